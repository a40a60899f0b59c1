package geneve

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/packet"
)

// egressParams encapsulates like a hypervisor sending the seed's egress
// packet: VNI 1, inport 1, outport 2.
func egressParams(csum bool) *EncapParams {
	return &EncapParams{
		SrcMAC: hvMAC, DstMAC: gwMAC, Src: hvIP, Dst: vtepIP,
		TTL: 64, TOS: 0, DF: true, SrcPort: seedSrc,
		VNI: 1, InPort: 1, OutPort: 2, Checksum: csum,
	}
}

// encapInto copies inner behind headroom bytes of garbage and encapsulates.
func encapInto(inner []byte, headroom int, p *EncapParams) []byte {
	buf := bytes.Repeat([]byte{0xa5}, headroom+len(inner)+7)
	copy(buf[headroom:], inner)
	start := Encap(buf, headroom, len(inner), p)
	return buf[start : headroom+len(inner)]
}

func TestEncapGolden(t *testing.T) {
	out := encapInto(innerFrame(t, 32), 128, egressParams(false))
	// Geneve header and OVN option as OVS 3.1 emits them for
	// set_field:1->tun_id, set_field:0x10002->tun_metadata0: opt len 2
	// words, C bit (type 0x80 is critical), TEB, VNI 1, class 0x0102,
	// type 0x80, length 1 word, value 0x00010002.
	want, _ := hex.DecodeString("02406558" + "00000100" + "01028001" + "00010002")
	if got := out[42:58]; !bytes.Equal(got, want) {
		t.Fatalf("geneve header\n got % x\nwant % x", got, want)
	}
	// Outer Ethernet, IPv4 (ID 0 with DF, RFC 6864) and UDP; inner is
	// 74 bytes, so IP total length 118 and UDP length 98.
	want, _ = hex.DecodeString(
		"525400000001" + "52540000000a" + "0800" +
			"4500" + "0076" + "0000" + "4000" + "4011" + "0000" + "c000020a" + "c0000201" +
			"c2d4" + "17c1" + "0062" + "0000")
	got := append([]byte{}, out[:42]...)
	got[24], got[25] = 0, 0 // IP checksum, checked below
	if !bytes.Equal(got, want) {
		t.Fatalf("outer headers\n got % x\nwant % x", got, want)
	}
	if onesSum(out[14:34]) != 0xffff {
		t.Fatalf("IP header checksum does not verify: % x", out[14:34])
	}
}

// TestEncapGopacket checks Encap's output with gopacket's decoder and
// gopacket's own checksum computation, plus an independent RFC 1071 sum.
func TestEncapGopacket(t *testing.T) {
	for _, csum := range []bool{false, true} {
		for _, n := range []int{0, 1, 31, 1400} {
			inner := innerFrame(t, n)
			p := egressParams(csum)
			p.TOS, p.TTL, p.DF, p.ID, p.VNI, p.InPort, p.OutPort = 0xb8, 0, false, 0x1234, 0xfedcba, 7, 0x8003
			out := encapInto(inner, EncapLen, p)
			if len(out) != EncapLen+len(inner) {
				t.Fatalf("len %d", len(out))
			}
			pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
			eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if eth == nil || ip == nil || udp == nil {
				t.Fatalf("gopacket: %v", pkt)
			}
			if !bytes.Equal(eth.SrcMAC, hvMAC[:]) || !bytes.Equal(eth.DstMAC, gwMAC[:]) || eth.EthernetType != layers.EthernetTypeIPv4 {
				t.Errorf("eth %+v", eth)
			}
			if ip.Version != 4 || ip.IHL != 5 || int(ip.Length) != len(out)-14 || ip.TTL != DefaultTTL || ip.TOS != 0xb8 ||
				ip.Flags != 0 || ip.Id != 0x1234 || ip.Protocol != layers.IPProtocolUDP ||
				!ip.SrcIP.Equal(net.IP(hvIP[:])) || !ip.DstIP.Equal(net.IP(vtepIP[:])) {
				t.Errorf("ip %+v", ip)
			}
			if udp.SrcPort != layers.UDPPort(seedSrc) || udp.DstPort != Port || int(udp.Length) != len(out)-34 {
				t.Errorf("udp %+v", udp)
			}
			// gopacket recomputes both checksums from the decoded layers.
			ip2 := *ip
			udp2 := &layers.UDP{SrcPort: udp.SrcPort, DstPort: udp.DstPort}
			if err := udp2.SetNetworkLayerForChecksum(&ip2); err != nil {
				t.Fatal(err)
			}
			re := serialize(t, &ip2, udp2, gopacket.Payload(udp.Payload))
			if ipc := binary.BigEndian.Uint16(re[10:]); ip.Checksum != ipc {
				t.Errorf("ip checksum %#x, gopacket %#x", ip.Checksum, ipc)
			}
			if onesSum(out[14:34]) != 0xffff {
				t.Errorf("ip checksum does not verify")
			}
			if !csum {
				if udp.Checksum != 0 {
					t.Errorf("udp checksum %#x, want none", udp.Checksum)
				}
			} else {
				gc := binary.BigEndian.Uint16(re[20+6:])
				if gc == 0 { // gopacket 1.1.19 forgets RFC 768's 0 -> 0xFFFF
					gc = 0xffff
				}
				if udp.Checksum != gc {
					t.Errorf("udp checksum %#x, gopacket %#x", udp.Checksum, gc)
				}
				var pseudo [12]byte
				copy(pseudo[0:], hvIP[:])
				copy(pseudo[4:], vtepIP[:])
				pseudo[9] = 17
				binary.BigEndian.PutUint16(pseudo[10:], uint16(len(out)-34))
				if onesSum(pseudo[:], out[34:]) != 0xffff {
					t.Errorf("udp checksum does not verify independently")
				}
			}
			if !bytes.Equal(udp.Payload[16:], inner) {
				t.Errorf("inner frame changed")
			}
		}
	}
}

// TestEncapZeroChecksum finds an inner frame whose UDP sum is 0 and checks
// it goes out as 0xFFFF, not as "no checksum".
func TestEncapZeroChecksum(t *testing.T) {
	inner := innerFrame(t, 2)
	p := egressParams(true)
	out := encapInto(inner, EncapLen, p)
	c := binary.BigEndian.Uint16(out[40:])
	// Adjust the last two inner bytes so the true sum becomes 0: adding
	// c to the data drives the complemented sum to 0 (or 0xFFFF).
	last := binary.BigEndian.Uint16(inner[len(inner)-2:])
	s := uint32(last) + uint32(c)
	s = s&0xffff + s>>16
	binary.BigEndian.PutUint16(inner[len(inner)-2:], uint16(s))
	out = encapInto(inner, EncapLen, p)
	if got := binary.BigEndian.Uint16(out[40:]); got != 0xffff {
		t.Fatalf("checksum %#x, want 0xffff", got)
	}
	var d Decapped
	if Decap(out, &d) != OK || !VerifyUDPChecksum(out, &d) {
		t.Fatal("0xffff checksum does not verify")
	}
}

func TestEncapDecapRoundTrip(t *testing.T) {
	inner := innerFrame(t, 100)
	for _, p := range []*EncapParams{
		egressParams(true),
		{SrcMAC: gwMAC, DstMAC: hvMAC, Src: vtepIP, Dst: hvIP, TTL: 1, DF: true,
			SrcPort: SourcePort(FlowHash(extIP, vmIP, 5001, 12345, 17)), VNI: 9, InPort: 2, OutPort: 5},
		{VNI: 0xffffff, InPort: 0x7fff, OutPort: 0xffff, Checksum: true},
		{VNI: 0x1000001, InPort: 0, OutPort: 0x8000}, // VNI cut to 24 bits
	} {
		out := encapInto(inner, 200, p)
		var d Decapped
		if r := Decap(out, &d); r != OK {
			t.Fatalf("%+v: %v", p, r)
		}
		want := Decapped{OuterSrc: p.Src, OuterDst: p.Dst, OuterSrcMAC: p.SrcMAC, SrcPort: p.SrcPort,
			VNI: p.VNI & 0xffffff, HasOVN: true, InPort: p.InPort, OutPort: p.OutPort,
			InnerOff: EncapLen, End: len(out), UDPOff: 34, UDPChecksum: d.UDPChecksum}
		if d != want {
			t.Fatalf("\n got %+v\nwant %+v", d, want)
		}
		if (d.UDPChecksum != 0) != p.Checksum || !VerifyUDPChecksum(out, &d) {
			t.Fatalf("checksum %#x", d.UDPChecksum)
		}
		if !bytes.Equal(out[d.InnerOff:d.End], inner) {
			t.Fatal("inner differs")
		}
		h := Header(out[42:])
		if !h.Critical() || h.OAM() || h.Version() != 0 {
			t.Fatalf("flags % x", out[42:44])
		}
	}
}

func TestEncapPanicsWithoutHeadroom(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Encap(make([]byte, 100), EncapLen-1, 14, egressParams(false))
}

func TestEncapAllocs(t *testing.T) {
	inner := innerFrame(t, 1400)
	buf := make([]byte, 256+len(inner))
	copy(buf[256:], inner)
	for _, csum := range []bool{false, true} {
		p := egressParams(csum)
		if n := testing.AllocsPerRun(1000, func() {
			Encap(buf, 256, len(inner), p)
		}); n != 0 {
			t.Errorf("csum=%v: Encap allocates %v per run", csum, n)
		}
	}
}

// TestEncapChecksumFromValues holds the outer UDP checksum, which Encap
// sums from the header values (encapSum) rather than from the written
// bytes, to a sum over the bytes for random parameters (VNI above 24 bits,
// inport above 15, every byte of each field non-zero somewhere) and inner
// frames of odd and even length; and the outer IPv4 header checksum, also
// summed from values, likewise.
func TestEncapChecksumFromValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		p := &EncapParams{
			SrcMAC: hvMAC, DstMAC: gwMAC,
			Src: packet.IP4{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())},
			Dst: packet.IP4{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())},
			TTL: uint8(rng.Uint32()), TOS: uint8(rng.Uint32()), DF: rng.IntN(2) == 0, ID: uint16(rng.Uint32()),
			SrcPort: uint16(rng.Uint32()), VNI: rng.Uint32(),
			InPort: uint16(rng.Uint32()), OutPort: uint16(rng.Uint32()), Checksum: true,
		}
		inner := make([]byte, packet.EthernetLen+rng.IntN(200))
		for j := range inner {
			inner[j] = byte(rng.Uint32())
		}
		out := encapInto(inner, EncapLen+rng.IntN(3), p)
		if !packet.IPv4(out[packet.EthernetLen:]).ChecksumValid() ||
			packet.Fold(packet.Sum(out[packet.EthernetLen:packet.EthernetLen+packet.IPv4MinLen], 0)) != 0xffff {
			t.Fatalf("case %d: outer IPv4 checksum does not verify: %x", i, out[:offUDP])
		}
		dgram := out[offUDP:]
		if s := packet.Fold(packet.Sum(dgram, packet.PseudoSum(p.Src, p.Dst, packet.ProtoUDP, uint16(len(dgram))))); s != 0xffff {
			t.Fatalf("case %d (%+v, inner %d bytes): outer UDP sum %#x, want 0xffff", i, p, len(inner), s)
		}
		if binary.BigEndian.Uint16(dgram[6:]) == 0 {
			t.Fatalf("case %d: checksum 0 sent", i)
		}
	}
}
