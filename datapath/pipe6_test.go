package datapath

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// The dual-stack test topology (testdata/dual-stack-v4.yaml, the example
// dual-stack.yaml with both chassis on the IPv4 underlay): vm1 in
// fd00:199:100::/64 is NAT66-ed to 2001:db8:5::100, vm2 in
// 2001:db8:200::/64 is routed without NAT.
var (
	d6VM1     = packet.MustIP6("fd00:199:100::10")
	d6VM2     = packet.MustIP6("2001:db8:200::20")
	d6SNAT    = packet.MustIP6("2001:db8:5::100")
	d6Ext     = packet.MustIP6("2001:db8:5::230") // gr1's external port
	d6NextHop = packet.MustIP6("2001:db8:5::1")
	d6GRJoin  = packet.MustIP6("fd00:16::3")
	d6Server  = packet.MustIP6("2001:db8:31::6:24")
	d6VM2MAC  = packet.MAC{0, 0, 0x19, 0x91, 0, 0x20}
	// vm3 is on node03, a chassis on the IPv6 underlay.
	d6VM3    = packet.MustIP6("2001:db8:200::30")
	d6VM3MAC = packet.MAC{0, 0, 0x19, 0x91, 0, 0x30}
	d6Node03 = packet.MustIP6("2001:db8:31::22")
	d6VTEP6  = packet.MustIP6("2001:db8:31::23")
)

// dualNeighbors resolves both families, as neigh.Table does.
type dualNeighbors struct {
	route.StaticNeighbors
	route.StaticNeighbors6
}

func newHarness6(t testing.TB) *harness {
	t.Helper()
	topo := seedtest.Topology(t, filepath.Join("testdata", "dual-stack-v4.yaml"))
	ct, err := conntrack.NewTable(conntrack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, topo: topo, ct: ct, now: 1_000_000_000}
	n := dualNeighbors{harnessNeighbors(), route.StaticNeighbors6{d6NextHop: packet.MAC(seedtest.MACNextHop), d6Node03: packet.MAC(seedtest.MACHV)}}
	h.pl, err = New(Config{Topology: topo, Conntrack: ct, Neighbors: n,
		UnderlayMAC: packet.MAC(seedtest.MACGWUnder), Clock: func() int64 { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	h.w = h.pl.NewWorker()
	return h
}

// egress6 is src's UDP datagram to the server, from the distributed
// router to gr1's join port, in Geneve from node01.
func egress6(t testing.TB, src packet.IP6, hop uint8, sport uint16) []byte {
	inner := v6Frame(t, macDR, macGR, src, d6Server, hop, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 53}, payload6)
	return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, inner)
}

var payload6 = gopacket.Payload("query")

// reply6 is the server's answer from the external next hop to dst:dport.
func reply6(t testing.TB, dst packet.IP6, dport uint16) []byte {
	return v6Frame(t, packet.MAC(seedtest.MACNextHop), packet.MAC(seedtest.MACGRExt), d6Server, dst, 60, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(dport)}, gopacket.Payload("answer"))
}

// outIPv6 checks that out is an IPv6 frame with valid L4 checksum and
// returns its decoding.
func outIPv6(t *testing.T, frame []byte) *packet.Parsed {
	t.Helper()
	var p packet.Parsed
	if r := p.DecodeDual(frame); r != packet.OK || p.Family != 6 {
		t.Fatalf("output does not decode as IPv6: %v family %d", r, p.Family)
	}
	if !packet.L4ChecksumValid6(frame[p.L4Off:p.End], p.Src6, p.Dst6, p.Proto) {
		t.Fatalf("output L4 checksum wrong")
	}
	return &p
}

// TestIPv6EgressNAT66AndReply walks vm1's UDP datagram out through NAT66
// (source 2001:db8:5::100, hop limit decremented, to the next hop's MAC)
// and the server's answer back to vm1 in Geneve to node01.
func TestIPv6EgressNAT66AndReply(t *testing.T) {
	h := newHarness6(t)
	for i := 0; i < 2; i++ { // the second time past a warm flow cache (which IPv6 bypasses)
		out := h.run(flow.Underlay, egress6(t, d6VM1, 64, 40000))
		if out.Verdict != VerdictTX || out.OutPort != flow.External {
			t.Fatalf("egress %d: verdict %v reason %v port %v, want TX external", i, out.Verdict, out.Reason, out.OutPort)
		}
		f := out.Frame()
		eth := packet.Ethernet(f)
		if eth.Dst() != packet.MAC(seedtest.MACNextHop) || eth.Src() != packet.MAC(seedtest.MACGRExt) {
			t.Fatalf("egress MACs %v -> %v", eth.Src(), eth.Dst())
		}
		p := outIPv6(t, f)
		if p.Src6 != d6SNAT || p.Dst6 != d6Server || p.TTL != 63 || p.DstPort != 53 {
			t.Fatalf("egress: %v:%d -> %v:%d hop %d, want %v -> %v:53 hop 63", p.Src6, p.SrcPort, p.Dst6, p.DstPort, p.TTL, d6SNAT, d6Server)
		}
		back := h.run(flow.External, reply6(t, d6SNAT, p.SrcPort))
		if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
			t.Fatalf("reply %d: verdict %v reason %v port %v, want TX underlay", i, back.Verdict, back.Reason, back.OutPort)
		}
		inner, vni := decapTest(t, back.Frame())
		if vni != 9 {
			t.Fatalf("reply VNI %d, want 9 (sw1)", vni)
		}
		if packet.Ethernet(inner).Dst() != packet.MAC(seedtest.MACVM) {
			t.Fatalf("reply inner dst MAC %v", packet.Ethernet(inner).Dst())
		}
		q := outIPv6(t, inner)
		if q.Src6 != d6Server || q.Dst6 != d6VM1 || q.DstPort != 40000 || q.TTL != 58 {
			t.Fatalf("reply: %v -> %v:%d hop %d, want %v -> %v:40000 hop 58", q.Src6, q.Dst6, q.DstPort, q.TTL, d6Server, d6VM1)
		}
	}
	if n := h.pl.Conntrack6().Len(); n != 2 {
		t.Fatalf("IPv6 conntrack holds %d connections, want 2 (dnat and snat zones)", n)
	}
	if n := h.ct.Len(); n != 0 {
		t.Fatalf("IPv4 conntrack holds %d connections, want 0", n)
	}
}

// TestIPv6RoutedWithoutNAT: vm2's prefix has no NAT66 rule, so its
// addresses go through unchanged, and the reply finds the connection.
func TestIPv6RoutedWithoutNAT(t *testing.T) {
	h := newHarness6(t)
	out := h.run(flow.Underlay, egress6(t, d6VM2, 64, 40001))
	if out.Verdict != VerdictTX || out.OutPort != flow.External {
		t.Fatalf("egress: verdict %v reason %v, want TX external", out.Verdict, out.Reason)
	}
	p := outIPv6(t, out.Frame())
	if p.Src6 != d6VM2 || p.SrcPort != 40001 {
		t.Fatalf("egress source %v:%d, want %v:40001 (routed)", p.Src6, p.SrcPort, d6VM2)
	}
	back := h.run(flow.External, reply6(t, d6VM2, 40001))
	if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
		t.Fatalf("reply: verdict %v reason %v, want TX underlay", back.Verdict, back.Reason)
	}
	inner, vni := decapTest(t, back.Frame())
	if q := outIPv6(t, inner); vni != 10 || q.Dst6 != d6VM2 || packet.Ethernet(inner).Dst() != d6VM2MAC {
		t.Fatalf("reply VNI %d to %v (%v), want 10, %v", vni, q.Dst6, packet.Ethernet(inner).Dst(), d6VM2)
	}
}

// TestIPv6UnsolicitedToNAT66 drops what arrives at the NAT66 address
// without a connection, and passes IPv6 for addresses that are not ours.
func TestIPv6UnsolicitedToNAT66(t *testing.T) {
	h := newHarness6(t)
	if r := h.run(flow.External, reply6(t, d6SNAT, 41000)); r.Verdict != VerdictDrop || r.Reason != DropNoConn {
		t.Fatalf("unsolicited: verdict %v reason %v, want drop no-connection", r.Verdict, r.Reason)
	}
	if r := h.run(flow.External, reply6(t, packet.MustIP6("2001:db8:99::1"), 41000)); r.Verdict != VerdictPass {
		t.Fatalf("not ours: verdict %v reason %v, want pass", r.Verdict, r.Reason)
	}
	if r := h.run(flow.External, reply6(t, d6Ext, 41000)); r.Verdict != VerdictPass {
		t.Fatalf("the host's external address: verdict %v reason %v, want pass", r.Verdict, r.Reason)
	}
}

// TestIPv6HopLimitExceeded: hop limit 1 at the gateway router gets time
// exceeded from its join address back to the VM over Geneve.
func TestIPv6HopLimitExceeded(t *testing.T) {
	h := newHarness6(t)
	out := h.run(flow.Underlay, egress6(t, d6VM1, 1, 40002))
	if out.Verdict != VerdictTX || out.OutPort != flow.Underlay {
		t.Fatalf("verdict %v reason %v port %v, want TX underlay", out.Verdict, out.Reason, out.OutPort)
	}
	inner, _ := decapTest(t, out.Frame())
	q := outIPv6(t, inner)
	if q.Proto != packet.ProtoICMPv6 || q.ICMPType != packet.ICMPv6TimeExceeded || q.Src6 != d6GRJoin || q.Dst6 != d6VM1 {
		t.Fatalf("got proto %d type %d %v -> %v, want time exceeded %v -> %v", q.Proto, q.ICMPType, q.Src6, q.Dst6, d6GRJoin, d6VM1)
	}
}

// decapTest returns the inner frame and VNI of a Geneve frame the
// pipeline sent (outer IPv4, no options parsed beyond their length).
func decapTest(t *testing.T, f []byte) ([]byte, uint32) {
	t.Helper()
	const off = packet.EthernetLen + 20 + 8
	if len(f) < off+8 || packet.Ethernet(f).EtherType() != packet.EtherTypeIPv4 {
		t.Fatalf("not Geneve over IPv4: %x", f)
	}
	g := f[off:]
	optLen := int(g[0]&0x3f) * 4
	return g[8+optLen:], binary.BigEndian.Uint32(g[4:]) >> 8
}

// TestIPv6NDOverGeneve: a solicitation from the distributed router for
// gr1's join address is answered back to the sending chassis, outport =
// its inport, advertising gr1's join MAC with the Router flag.
func TestIPv6NDOverGeneve(t *testing.T) {
	h := newHarness6(t)
	ns := nsFrame(t, nsSpec{src: packet.MustIP6("fd00:16::2"), dst: d6GRJoin.SolicitedNode(), target: d6GRJoin, slla: true})
	out := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 0x8001, ns))
	if out.Verdict != VerdictTX || out.OutPort != flow.Underlay {
		t.Fatalf("verdict %v reason %v port %v, want TX underlay", out.Verdict, out.Reason, out.OutPort)
	}
	inner, vni := decapTest(t, out.Frame())
	q := outIPv6(t, inner)
	na := packet.ICMPv6(inner[q.L4Off:q.End])
	if vni != 1 || q.ICMPType != packet.ICMPv6NeighborAdvert || q.Src6 != d6GRJoin || q.Dst6 != packet.MustIP6("fd00:16::2") ||
		na.NDTarget() != d6GRJoin || packet.Ethernet(inner).Src() != macGR {
		t.Fatalf("answer: vni %d type %d %v -> %v target %v from %v", vni, q.ICMPType, q.Src6, q.Dst6, na.NDTarget(), packet.Ethernet(inner).Src())
	}
	if h.pl.Stats().ARPReply != 1 {
		t.Fatalf("neighbour answers over Geneve: %d, want 1", h.pl.Stats().ARPReply)
	}
	// Not one of gr1's addresses: not answered.
	other := nsFrame(t, nsSpec{src: packet.MustIP6("fd00:16::2"), dst: packet.MustIP6("fd00:16::9").SolicitedNode(), target: packet.MustIP6("fd00:16::9")})
	if r := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 0x8001, other)); r.Verdict != VerdictDrop || r.Reason != DropND {
		t.Fatalf("solicitation for another address: %v %v, want drop nd", r.Verdict, r.Reason)
	}
}

// TestIPv6NDExternal: a solicitation on the external link for the NAT66
// address is answered with gr1's external MAC; one for the host's own
// address (the external port's) is the kernel's.
func TestIPv6NDExternal(t *testing.T) {
	h := newHarness6(t)
	ns := nsFrame(t, nsSpec{src: d6NextHop, dst: d6SNAT.SolicitedNode(), target: d6SNAT, slla: true})
	out := h.run(flow.External, ns)
	if out.Verdict != VerdictTX || out.OutPort != flow.External {
		t.Fatalf("verdict %v reason %v port %v, want TX external", out.Verdict, out.Reason, out.OutPort)
	}
	q := outIPv6(t, out.Frame())
	na := packet.ICMPv6(out.Frame()[q.L4Off:q.End])
	if q.ICMPType != packet.ICMPv6NeighborAdvert || na.NDTarget() != d6SNAT || packet.Ethernet(out.Frame()).Src() != packet.MAC(seedtest.MACGRExt) {
		t.Fatalf("answer: type %d target %v from %v", q.ICMPType, na.NDTarget(), packet.Ethernet(out.Frame()).Src())
	}
	host := nsFrame(t, nsSpec{src: d6NextHop, dst: d6Ext.SolicitedNode(), target: d6Ext, slla: true})
	if r := h.run(flow.External, host); r.Verdict != VerdictPass {
		t.Fatalf("solicitation for the host's address: %v %v, want pass", r.Verdict, r.Reason)
	}
}

// TestIPv6EchoToRouter: ping -6 to gr1's join address is answered by
// the router, back over Geneve.
func TestIPv6EchoToRouter(t *testing.T) {
	h := newHarness6(t)
	inner := v6Frame(t, macDR, macGR, d6VM1, d6GRJoin, 63, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, gopacket.Payload("ping"))
	out := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, inner))
	if out.Verdict != VerdictTX || out.OutPort != flow.Underlay {
		t.Fatalf("verdict %v reason %v port %v, want TX underlay", out.Verdict, out.Reason, out.OutPort)
	}
	in, vni := decapTest(t, out.Frame())
	q := outIPv6(t, in)
	if vni != 9 || q.ICMPType != packet.ICMPv6EchoReply || q.Src6 != d6GRJoin || q.Dst6 != d6VM1 {
		t.Fatalf("reply: vni %d type %d %v -> %v", vni, q.ICMPType, q.Src6, q.Dst6)
	}
}

// TestIPv6PacketTooBigTranslated: an ICMPv6 packet too big from the
// external side about a NAT66-ed datagram reaches the VM with its
// destination and quoted source translated back, checksums right.
func TestIPv6PacketTooBigTranslated(t *testing.T) {
	h := newHarness6(t)
	out := h.run(flow.Underlay, egress6(t, d6VM1, 64, 40003))
	if out.Verdict != VerdictTX {
		t.Fatalf("egress: %v %v", out.Verdict, out.Reason)
	}
	seen := append([]byte(nil), out.Frame()[packet.EthernetLen:]...)
	body := append([]byte{0, 0, 0x05, 0x00}, seen...) // MTU 1280, then the quote
	ptb := v6Frame(t, packet.MAC(seedtest.MACNextHop), packet.MAC(seedtest.MACGRExt), d6NextHop, d6SNAT, 64, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)}, gopacket.Payload(body))
	back := h.run(flow.External, ptb)
	if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
		t.Fatalf("packet too big: verdict %v reason %v, want TX underlay", back.Verdict, back.Reason)
	}
	inner, _ := decapTest(t, back.Frame())
	q := outIPv6(t, inner)
	if q.ICMPType != packet.ICMPv6PacketTooBig || q.Dst6 != d6VM1 {
		t.Fatalf("type %d to %v, want packet too big to %v", q.ICMPType, q.Dst6, d6VM1)
	}
	quoted := packet.IPv6(inner[q.L4Off+8:])
	if quoted.Src() != d6VM1 || binary.BigEndian.Uint16(inner[q.L4Off+8+packet.IPv6Len:]) != 40003 {
		t.Fatalf("quoted source %v:%d, want %v:40003", quoted.Src(), binary.BigEndian.Uint16(inner[q.L4Off+8+packet.IPv6Len:]), d6VM1)
	}
}

// TestIPv6EstablishedZeroAllocs: an established NAT66 connection's
// packets, both ways, allocate nothing in the software pipeline.
func TestIPv6EstablishedZeroAllocs(t *testing.T) {
	h := newHarness6(t)
	eg := egress6(t, d6VM1, 64, 40004)
	first := h.run(flow.Underlay, eg)
	if first.Verdict != VerdictTX {
		t.Fatalf("egress: %v %v", first.Verdict, first.Reason)
	}
	sport := outIPv6(t, first.Frame()).SrcPort
	rep := reply6(t, d6SNAT, sport)
	buf := make([]byte, 2*(headroom+2048))
	batch := make([]Packet, 2)
	fill := func() {
		b0, b1 := buf[:headroom+2048], buf[headroom+2048:]
		copy(b0[headroom:], eg)
		copy(b1[headroom:], rep)
		batch[0] = Packet{Buf: b0, Off: headroom, Len: len(eg), InPort: flow.Underlay}
		batch[1] = Packet{Buf: b1, Off: headroom, Len: len(rep), InPort: flow.External}
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
		t.Fatalf("established IPv6 pipeline allocates %v per batch", allocs)
	}
}

// under6 wraps inner in Geneve over IPv6 from src to the gateway's IPv6
// VTEP (join switch, ports 1 -> 2), built by hand (seedtest.Geneve6).
func under6(t testing.TB, inner []byte, src packet.IP6) []byte {
	t.Helper()
	return seedtest.Geneve6(t, ipOf(src), ipOf(d6VTEP6), 1, 1, 2, inner)
}

// TestIPv6OverIPv6Underlay: vm3 on node03 (Geneve over IPv6) reaches the
// server routed without NAT, and the reply goes back to node03 in Geneve
// over IPv6 from the gateway's IPv6 VTEP; Geneve over IPv6 from an unknown
// chassis is refused.
func TestIPv6OverIPv6Underlay(t *testing.T) {
	h := newHarness6(t)
	inner := v6Frame(t, macDR, macGR, d6VM3, d6Server, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 40005, DstPort: 53}, gopacket.Payload("query"))
	out := h.run(flow.Underlay, under6(t, inner, d6Node03))
	if out.Verdict != VerdictTX || out.OutPort != flow.External {
		t.Fatalf("egress: verdict %v reason %v port %v, want TX external", out.Verdict, out.Reason, out.OutPort)
	}
	if p := outIPv6(t, out.Frame()); p.Src6 != d6VM3 || p.TTL != 63 {
		t.Fatalf("egress from %v hop %d, want %v (routed) hop 63", p.Src6, p.TTL, d6VM3)
	}
	back := h.run(flow.External, reply6(t, d6VM3, 40005))
	if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
		t.Fatalf("reply: verdict %v reason %v, want TX underlay", back.Verdict, back.Reason)
	}
	var d geneve.Decapped
	f := back.Frame()
	if r := geneve.DecapDual(f, &d); r != geneve.OK || !d.IPv6 || d.OuterSrc6 != d6VTEP6 || d.OuterDst6 != d6Node03 || d.VNI != 10 || !geneve.VerifyUDPChecksum(f, &d) {
		t.Fatalf("reply outer: %v ipv6 %v %v -> %v vni %d", r, d.IPv6, d.OuterSrc6, d.OuterDst6, d.VNI)
	}
	in := f[d.InnerOff:d.End]
	if q := outIPv6(t, in); q.Dst6 != d6VM3 || packet.Ethernet(in).Dst() != d6VM3MAC {
		t.Fatalf("reply inner to %v (%v), want %v", q.Dst6, packet.Ethernet(in).Dst(), d6VM3)
	}
	if r := h.run(flow.Underlay, under6(t, inner, packet.MustIP6("2001:db8:31::99"))); r.Verdict != VerdictDrop || r.Reason != DropGeneveSource {
		t.Fatalf("unknown IPv6 chassis: %v %v, want drop geneve-unknown-source", r.Verdict, r.Reason)
	}
}

// TestIPv6PacketTooBigTranslatedExtHeaders: vm1's datagram carries a
// destination options header; the packet too big that the next hop sends
// about it quotes the header chain, and is still related to the NAT66
// connection (InnerTuple6 walks the quoted chain) and reaches the VM
// translated: destination and quoted source back to vm1, the chain kept,
// the ICMPv6 and quoted UDP checksums right.
func TestIPv6PacketTooBigTranslatedExtHeaders(t *testing.T) {
	h := newHarness6(t)
	eg := seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
		v6Frame(t, macDR, macGR, d6VM1, d6Server, 64, []v6Ext{v6DstOpts}, layers.IPProtocolUDP,
			&layers.UDP{SrcPort: 40006, DstPort: 53}, payload6))
	out := h.run(flow.Underlay, eg)
	if out.Verdict != VerdictTX || out.OutPort != flow.External {
		t.Fatalf("egress: %v %v", out.Verdict, out.Reason)
	}
	seen := append([]byte(nil), out.Frame()[packet.EthernetLen:]...)
	if packet.IPv6(seen).Src() != d6SNAT || packet.IPv6(seen).NextHeader() != packet.ProtoDstOpts {
		t.Fatalf("egress from %v next header %d, want %v with destination options", packet.IPv6(seen).Src(), packet.IPv6(seen).NextHeader(), d6SNAT)
	}
	body := append([]byte{0, 0, 0x05, 0x00}, seen...) // MTU 1280, then the quote
	ptb := v6Frame(t, packet.MAC(seedtest.MACNextHop), packet.MAC(seedtest.MACGRExt), d6NextHop, d6SNAT, 64, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)}, gopacket.Payload(body))
	back := h.run(flow.External, ptb)
	if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
		t.Fatalf("packet too big: verdict %v reason %v, want TX underlay", back.Verdict, back.Reason)
	}
	inner, _ := decapTest(t, back.Frame())
	q := outIPv6(t, inner)
	if q.ICMPType != packet.ICMPv6PacketTooBig || q.Dst6 != d6VM1 {
		t.Fatalf("type %d to %v, want packet too big to %v", q.ICMPType, q.Dst6, d6VM1)
	}
	quoted := inner[q.L4Off+8:]
	qip := packet.IPv6(quoted)
	udp := quoted[packet.IPv6Len+16:]
	if qip.Src() != d6VM1 || qip.NextHeader() != packet.ProtoDstOpts || quoted[packet.IPv6Len] != packet.ProtoUDP ||
		binary.BigEndian.Uint16(udp) != 40006 {
		t.Fatalf("quoted %v next %d:%d port %d, want %v dstopts:udp 40006", qip.Src(), qip.NextHeader(), quoted[packet.IPv6Len], binary.BigEndian.Uint16(udp), d6VM1)
	}
	if !packet.L4ChecksumValid6(udp, qip.Src(), qip.Dst(), packet.ProtoUDP) {
		t.Fatal("quoted UDP checksum wrong after translation")
	}
}
