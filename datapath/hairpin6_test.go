package datapath

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

var (
	d6VM4      = packet.MustIP6("fd00:199:100::40")
	d6VM4Float = packet.MustIP6("2001:db8:5::140") // vm4's dnat_and_snat address
)

// TestHairpin6: vm1 (node01, IPv4 underlay) reaches vm4 by vm4's
// dnat_and_snat IPv6 address through gr1, as through OVN's gateway
// router: DNATed to vm4, SNATed to vm1's NAT66 address, both routers'
// hops, Geneve over IPv6 to node03; vm4's answer comes back over IPv6,
// un-SNATed to vm1 and un-DNATed from vm4's floating address, to node01
// over IPv4. A packet to a SNAT-only address with no connection is
// dropped as no-connection.
func TestHairpin6(t *testing.T) {
	h := newHarness6(t)
	req := v6Frame(t, macDR, macGR, d6VM1, d6VM4Float, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 40020, DstPort: 53}, gopacket.Payload("hairpin"))
	out := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, req))
	wantTX(t, out, flow.Underlay)
	tu := decodeTunnel6(t, out.Frame())
	if !tu.ip.DstIP.Equal(ipOf(d6Node03)) || tu.gen.VNI != sw1Key {
		t.Fatalf("hairpin outer to %v VNI %d, want %v VNI %d", tu.ip.DstIP, tu.gen.VNI, d6Node03, sw1Key)
	}
	if _, o := ovnOption(t, tu.gen); o != vm4Key {
		t.Fatalf("outport %d, want vm4's %d", o, vm4Key)
	}
	q := outIPv6(t, tu.inner)
	if q.Src6 != d6SNAT || q.Dst6 != d6VM4 || q.DstPort != 53 || q.TTL != 62 || packet.Ethernet(tu.inner).Dst() != d6VM4MAC {
		t.Fatalf("hairpin inner %v:%d -> %v:%d hop %d, want %v -> %v:53 hop 62", q.Src6, q.SrcPort, q.Dst6, q.DstPort, q.TTL, d6SNAT, d6VM4)
	}
	natPort := q.SrcPort

	ans := v6Frame(t, macDR, macGR, d6VM4, d6SNAT, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(natPort)}, gopacket.Payload("answer"))
	back := h.run(flow.Underlay, under6(t, ans, d6Node03))
	wantTX(t, back, flow.Underlay)
	var d geneve.Decapped
	f := back.Frame()
	if r := geneve.DecapDual(f, &d); r != geneve.OK || d.IPv6 || d.OuterDst != packet.IP4(seedtest.Chassis.To4()) {
		t.Fatalf("answer outer: %v ipv6 %v to %v, want IPv4 to node01", r, d.IPv6, d.OuterDst)
	}
	a := outIPv6(t, f[d.InnerOff:d.End])
	if a.Src6 != d6VM4Float || a.SrcPort != 53 || a.Dst6 != d6VM1 || a.DstPort != 40020 {
		t.Fatalf("answer %v:%d -> %v:%d, want %v:53 -> %v:40020", a.Src6, a.SrcPort, a.Dst6, a.DstPort, d6VM4Float, d6VM1)
	}
	if n := h.w.c.fwd[FamilyIPv6][DirHairpin].Packets; n != 2 {
		t.Fatalf("IPv6 hairpin counter %d, want 2", n)
	}

	// vm4 to vm1's SNAT-only address, no connection: dropped.
	stray := v6Frame(t, macDR, macGR, d6VM4, d6SNAT, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 53, DstPort: 9}, gopacket.Payload("stray"))
	wantDrop(t, h.run(flow.Underlay, under6(t, stray, d6Node03)), DropNoConn)
}

// TestHairpin6ZeroAllocs: an established IPv6 hairpin, both ways (the
// answer over the IPv6 underlay), allocates nothing; so does IPv4 over
// the IPv6 underlay, both ways.
func TestHairpin6ZeroAllocs(t *testing.T) {
	h := newHarness6(t)
	req := seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, v6Frame(t, macDR, macGR, d6VM1, d6VM4Float, 64, nil,
		layers.IPProtocolUDP, &layers.UDP{SrcPort: 40021, DstPort: 53}, gopacket.Payload("hairpin")))
	first := h.run(flow.Underlay, req)
	wantTX(t, first, flow.Underlay)
	natPort := outIPv6(t, decodeTunnel6(t, first.Frame()).inner).SrcPort
	ans := under6(t, v6Frame(t, macDR, macGR, d6VM4, d6SNAT, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(natPort)}, gopacket.Payload("answer")), d6Node03)

	eg4 := under6(t, seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, d4VM4, seedtest.Server,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40012, DPort: 53}), d6Node03)
	out4 := h.run(flow.Underlay, eg4)
	wantTX(t, out4, flow.External)
	var op packet.Parsed
	op.Decode(out4.Frame())
	rep4 := seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, seedtest.SNAT,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: op.SrcPort, TTL: 64})

	frames := [][]byte{req, ans, eg4, rep4}
	ports := []flow.Port{flow.Underlay, flow.Underlay, flow.Underlay, flow.External}
	const slot = headroom + 2048
	buf := make([]byte, len(frames)*slot)
	batch := make([]Packet, len(frames))
	fill := func() {
		for i, f := range frames {
			b := buf[i*slot : (i+1)*slot]
			copy(b[headroom:], f)
			batch[i] = Packet{Buf: b, Off: headroom, Len: len(f), InPort: ports[i]}
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		fill()
		h.w.Process(batch)
	})
	for i, p := range batch {
		if p.Verdict != VerdictTX {
			t.Fatalf("slot %d: %v %v", i, p.Verdict, p.Reason)
		}
	}
	if allocs != 0 {
		t.Fatalf("IPv6 hairpin / IPv4 over the IPv6 underlay allocate %v per batch", allocs)
	}
}
