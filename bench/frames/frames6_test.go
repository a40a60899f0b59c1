package frames

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

var (
	testInner6 = Inner6{
		SrcMAC: packet.MustMAC("ae:03:03:17:eb:df"), DstMAC: packet.MustMAC("ae:cd:cd:04:d7:d4"),
		Src: packet.MustIP6("fd00:199:100::10"), Dst: packet.MustIP6("2001:db8:5::2"),
		SrcPort: 10000, DstPort: 9000, HopLimit: 63,
	}
	testOuter6 = Outer6{
		SrcMAC: packet.MustMAC("02:00:c0:00:02:02"), DstMAC: packet.MustMAC("02:00:c0:00:02:01"),
		Src: packet.MustIP6("fd00:c000:2::2"), Dst: packet.MustIP6("fd00:c000:2::1"), VNI: 1, InPort: 1, Out: 2,
	}
)

// TestGeneve6FramesDecode checks both IPv6 templates with gopacket and
// with xgw's own checksum code: valid inner UDP checksum (and outer over
// the IPv6 underlay), the magic where Layout6 says, the ports at SportOff.
func TestGeneve6FramesDecode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		underlay6 bool
		build     func() ([]byte, error)
		encap     int
	}{
		{"over-ipv4", false, func() ([]byte, error) { return Geneve6(testOuter, testInner6, 80) }, geneve.EncapLen},
		{"over-ipv6", true, func() ([]byte, error) { return Geneve6o6(testOuter6, testInner6, 80) }, geneve.EncapLen6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != 80+tc.encap {
				t.Fatalf("len %d", len(b))
			}
			p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			if el := p.ErrorLayer(); el != nil {
				t.Fatalf("gopacket: %v", el.Error())
			}
			gnv, _ := p.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
			if gnv == nil || gnv.VNI != 1 {
				t.Fatalf("geneve layer %+v", gnv)
			}
			in := gopacket.NewPacket(gnv.Payload, layers.LayerTypeEthernet, gopacket.Default)
			ip6, _ := in.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			udp, _ := in.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if ip6 == nil || udp == nil || ip6.HopLimit != 63 || udp.SrcPort != 10000 || udp.DstPort != 9000 {
				t.Fatalf("inner %v", in)
			}
			off := tc.encap + packet.EthernetLen + packet.IPv6Len
			if !packet.L4ChecksumValid6(b[off:], testInner6.Src, testInner6.Dst, packet.ProtoUDP) {
				t.Error("inner UDP checksum invalid")
			}
			if tc.underlay6 && !packet.L4ChecksumValid6(b[packet.EthernetLen+packet.IPv6Len:], testOuter6.Src, testOuter6.Dst, packet.ProtoUDP) {
				t.Error("outer UDP checksum invalid")
			}
			spec := Layout6(tc.underlay6, 10, 10000)
			if spec.SportOff != off || !spec.IPv6 {
				t.Errorf("layout %+v, inner UDP at %d", spec, off)
			}
			if got := b[spec.PayloadOff : spec.PayloadOff+8]; string(got) != "XGWBENCH" {
				t.Errorf("magic at %d: %q", spec.PayloadOff, got)
			}
			if tc.underlay6 && spec.OuterSportOff != 0 {
				t.Error("outer source port rewritten over the IPv6 underlay (its checksum covers it)")
			}
		})
	}
	if _, err := Geneve6(testOuter, testInner6, MinSize6-1); err == nil {
		t.Error("too small an inner IPv6 frame accepted")
	}
}
