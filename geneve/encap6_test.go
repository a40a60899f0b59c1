package geneve

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/packet"
)

// TestEncap6Golden pins the outer headers byte for byte: the IPv6 header
// (traffic class, flow label, payload length = UDP length), the UDP
// header with its checksum, then the same Geneve header as over IPv4.
func TestEncap6Golden(t *testing.T) {
	inner := innerFrame6(t, 32) // 14+40+8+32 = 94 bytes
	p := egressParams6()
	p.TrafficClass, p.FlowLabel = 0xb8, 0x12345
	out := encap6Into(inner, 128, p)
	want, _ := hex.DecodeString(
		"525400000001" + "52540000000a" + "86dd" +
			"6b812345" + "0076" + "11" + "40" + "20010db8010000000000000000000010" + "20010db8010000000000000000000001" +
			"c2d4" + "17c1" + "0076")
	if got := out[:60]; !bytes.Equal(got, want) {
		t.Fatalf("outer headers\n got % x\nwant % x", got, want)
	}
	want, _ = hex.DecodeString("02406558" + "00000100" + "01028001" + "00010002")
	if got := out[62:78]; !bytes.Equal(got, want) {
		t.Fatalf("geneve header\n got % x\nwant % x", got, want)
	}
	// The checksum, by an independent RFC 1071 sum over the pseudo-header.
	ph := append(append(append([]byte{}, hvIP6[:]...), vtepIP6[:]...), 0, 0, 0, 0x76, 0, 0, 0, 17)
	if onesSum(ph, out[54:]) != 0xffff {
		t.Fatal("outer UDP checksum does not verify")
	}
}

// TestEncap6Gopacket decodes Encap6's output with gopacket, for either
// overlay, and round-trips it through DecapDual.
func TestEncap6Gopacket(t *testing.T) {
	for name, inner := range map[string][]byte{"v4 overlay": innerFrame(t, 100), "v6 overlay": innerFrame6(t, 1300), "empty": innerFrame6(t, 0)} {
		p := egressParams6()
		p.HopLimit, p.VNI, p.InPort, p.OutPort, p.SrcPort = 0, 0xfedcba, 7, 0x8003, SourcePort(FlowHash6(vmIP6, extIP6, 1, 2, 17))
		out := encap6Into(inner, EncapLen6+3, p)
		if len(out) != EncapLen6+len(inner) {
			t.Fatalf("%s: len %d", name, len(out))
		}
		pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		g, _ := pk.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
		if eth == nil || ip == nil || udp == nil || g == nil {
			t.Fatalf("%s: gopacket: %v", name, pk)
		}
		if eth.EthernetType != layers.EthernetTypeIPv6 || !bytes.Equal(eth.SrcMAC, hvMAC[:]) || !bytes.Equal(eth.DstMAC, gwMAC[:]) {
			t.Errorf("%s: eth %+v", name, eth)
		}
		if ip.Version != 6 || ip.HopLimit != DefaultTTL || ip.NextHeader != layers.IPProtocolUDP || int(ip.Length) != len(out)-54 ||
			packet.IP6(ip.SrcIP) != hvIP6 || packet.IP6(ip.DstIP) != vtepIP6 {
			t.Errorf("%s: ipv6 %+v", name, ip)
		}
		if udp.DstPort != Port || uint16(udp.SrcPort) != p.SrcPort || int(udp.Length) != len(out)-54 || udp.Checksum == 0 {
			t.Errorf("%s: udp %+v", name, udp)
		}
		// gopacket's own checksum over the same datagram.
		ref := &layers.UDP{SrcPort: udp.SrcPort, DstPort: udp.DstPort}
		ref.SetNetworkLayerForChecksum(ip)
		if refb := serialize(t, ref, gopacket.Payload(udp.Payload)); refb[6] != out[60] || refb[7] != out[61] {
			t.Errorf("%s: checksum %x, gopacket %x", name, out[60:62], refb[6:8])
		}
		if g.VNI != 0xfedcba || g.Protocol != layers.EthernetTypeTransparentEthernetBridging || len(g.Options) != 1 ||
			g.Options[0].Class != OVNClass || g.Options[0].Type != OVNType || !bytes.Equal(g.LayerPayload(), inner) {
			t.Errorf("%s: geneve %+v", name, g)
		}
		var d Decapped
		if r := DecapDual(out, &d); r != OK || !d.IPv6 || d.VNI != p.VNI || d.InPort != p.InPort || d.OutPort != p.OutPort ||
			d.OuterSrc6 != p.Src || d.OuterDst6 != p.Dst || !VerifyUDPChecksum(out, &d) || !bytes.Equal(out[d.InnerOff:d.End], inner) {
			t.Fatalf("%s: round trip %v %+v", name, r, d)
		}
	}
}

func TestEncap6Allocs(t *testing.T) {
	inner := innerFrame6(t, 64)
	buf := make([]byte, 256+len(inner))
	copy(buf[256:], inner)
	p := egressParams6()
	if a := testing.AllocsPerRun(1000, func() { Encap6(buf, 256, len(inner), p) }); a != 0 {
		t.Fatalf("Encap6 allocates %v per run", a)
	}
}

// TestFlowHash6 pins the fold the fast path must reproduce and checks
// that every address word matters.
func TestFlowHash6(t *testing.T) {
	a, b := vmIP6, extIP6
	h := FlowHash6(a, b, 1, 2, 17)
	// ipv6_addr_hash folds both into one word; jhash_3words as FlowHash.
	if want := jhash3(fold6(a), fold6(b), 1<<16|2, 17); h != want {
		t.Fatal("not jhash_3words of the folds")
	}
	if fold6(packet.MustIP6("1:2:3:4:5:6:7:8")) != 0x00010002^0x00030004^0x00050006^0x00070008 {
		t.Fatal("fold6")
	}
	for i := 0; i < 16; i++ {
		c := a
		c[i] ^= 0x10
		if FlowHash6(c, b, 1, 2, 17) == h {
			t.Fatalf("byte %d of src does not change the hash", i)
		}
	}
}

// TestIPv6OverlayOverIPv4Underlay: an IPv6 inner frame rides Encap's IPv4
// underlay unchanged, gopacket reads the whole stack, and the inner frame
// decodes as IPv6 after DecapDual.
func TestIPv6OverlayOverIPv4Underlay(t *testing.T) {
	inner := innerFrame6(t, 20)
	out := encapInto(inner, EncapLen, egressParams(true))
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	ips := pk.Layers()
	var v4, v6 bool
	for _, l := range ips {
		switch ip := l.(type) {
		case *layers.IPv4:
			v4 = packet.IP4(ip.DstIP.To4()) == vtepIP
		case *layers.IPv6:
			v6 = packet.IP6(ip.SrcIP) == vmIP6 && packet.IP6(ip.DstIP) == extIP6
		}
	}
	if !v4 || !v6 {
		t.Fatalf("gopacket: %v", pk)
	}
	var d Decapped
	if r := DecapDual(out, &d); r != OK || d.IPv6 || d.OuterDst != vtepIP || !VerifyUDPChecksum(out, &d) {
		t.Fatalf("decap %v %+v", r, d)
	}
	var p packet.Parsed
	if r := p.DecodeDual(out[d.InnerOff:d.End]); r != packet.OK || p.Family != 6 || p.Src6 != vmIP6 || p.DstPort != 5001 {
		t.Fatalf("inner %v %+v", r, p)
	}
}
