package frames

import (
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/bench/xdpload"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

var (
	testOuter = Outer{
		SrcMAC: packet.MustMAC("02:00:c0:00:02:02"), DstMAC: packet.MustMAC("02:00:c0:00:02:01"),
		Src: packet.MustIP4("192.0.2.2"), Dst: packet.MustIP4("192.0.2.1"),
		VNI: 1, InPort: 1, Out: 2,
	}
	testInner = Inner{
		SrcMAC: packet.MustMAC("ae:03:03:17:eb:df"), DstMAC: packet.MustMAC("ae:cd:cd:04:d7:d4"),
		Src: packet.MustIP4("10.199.100.10"), Dst: packet.MustIP4("198.51.100.2"),
		SrcPort: 10000, DstPort: 9000, TTL: 63,
	}
)

// TestGeneveFrameDecodes checks the template with gopacket (an independent
// decoder) and with xgw's own Decap, which is what the gateway runs.
func TestGeneveFrameDecodes(t *testing.T) {
	b, err := Geneve(testOuter, testInner, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 64+geneve.EncapLen {
		t.Fatalf("len %d", len(b))
	}
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	ip4s, udps := 0, 0
	for _, l := range p.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			ip4s++
			if ip4s == 1 && (v.SrcIP.String() != "192.0.2.2" || v.DstIP.String() != "192.0.2.1") {
				t.Errorf("outer %v > %v", v.SrcIP, v.DstIP)
			}
			if ip4s == 2 && (v.SrcIP.String() != "10.199.100.10" || v.DstIP.String() != "198.51.100.2" || v.TTL != 63) {
				t.Errorf("inner %v > %v ttl %d", v.SrcIP, v.DstIP, v.TTL)
			}
			// gopacket does not verify; recompute over the header.
			hdr := v.Contents
			if packet.Checksum(hdr, 0) != 0 {
				t.Errorf("IPv4 header checksum invalid (%d)", ip4s)
			}
		case *layers.UDP:
			udps++
			if udps == 1 && v.DstPort != 6081 {
				t.Errorf("outer dport %d", v.DstPort)
			}
			if udps == 2 && (v.SrcPort != 10000 || v.DstPort != 9000) {
				t.Errorf("inner ports %d > %d", v.SrcPort, v.DstPort)
			}
		case *layers.Geneve:
			if v.VNI != 1 || v.Protocol != layers.EthernetTypeTransparentEthernetBridging {
				t.Errorf("geneve vni %d proto %v", v.VNI, v.Protocol)
			}
		}
	}
	if ip4s != 2 || udps != 2 {
		t.Fatalf("layers: %v", p.Layers())
	}
	var d geneve.Decapped
	if r := geneve.Decap(b, &d); r != geneve.OK {
		t.Fatalf("xgw Decap: %v", r)
	}
	if d.VNI != 1 {
		t.Errorf("Decap VNI %d", d.VNI)
	}
	if got := binary.LittleEndian.Uint64(b[xdpload.GenevePayloadOff:]); got != xdpload.Magic {
		t.Errorf("magic %#x at %d", got, xdpload.GenevePayloadOff)
	}
}

func TestPlainFrame(t *testing.T) {
	b, err := Plain(testInner, 64)
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp == nil || udp.SrcPort != 10000 || udp.DstPort != 9000 || udp.Checksum != 0 {
		t.Fatalf("udp %+v", udp)
	}
	if got := binary.LittleEndian.Uint64(b[xdpload.PlainPayloadOff:]); got != xdpload.Magic {
		t.Errorf("magic %#x", got)
	}
}

func TestLayoutMatchesFrames(t *testing.T) {
	g, _ := Geneve(testOuter, testInner, 64)
	l := Layout(true, 5000, 10000)
	if binary.BigEndian.Uint16(g[l.SportOff:]) != testInner.SrcPort {
		t.Errorf("geneve SportOff %d does not hold the inner source port", l.SportOff)
	}
	if binary.BigEndian.Uint16(g[l.OuterSportOff+2:]) != 6081 {
		t.Errorf("OuterSportOff %d is not the outer UDP header", l.OuterSportOff)
	}
	pl, _ := Plain(testInner, 64)
	l = Layout(false, 5000, 10000)
	if binary.BigEndian.Uint16(pl[l.SportOff:]) != testInner.SrcPort || l.OuterSportOff != 0 {
		t.Errorf("plain layout %+v", l)
	}
}

func TestSizeLimits(t *testing.T) {
	if _, err := Plain(testInner, MinSize-1); err == nil {
		t.Error("plain: too small accepted")
	}
	if _, err := Geneve(testOuter, testInner, MinSize-1); err == nil {
		t.Error("geneve: too small accepted")
	}
	if _, err := Geneve(testOuter, testInner, MinSize); err != nil {
		t.Error(err)
	}
}
