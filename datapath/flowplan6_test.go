package datapath

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// recordSink6 keeps the candidates of both families.
type recordSink6 struct {
	recordSink
	got6       []flow.Candidate6
	withdrawn6 []conntrack.Handle
}

func (r *recordSink6) Candidates6(c []flow.Candidate6) { r.got6 = append(r.got6, c...) }
func (r *recordSink6) Withdraw6(h conntrack.Handle)    { r.withdrawn6 = append(r.withdrawn6, h) }

func newOffloadHarness6(t *testing.T) (*harness, *recordSink6) {
	h := newHarness6(t)
	sink := &recordSink6{}
	h.pl.SetOffload(sink)
	return h, sink
}

// newOffloadHarness6Only is newOffloadHarness6 on an IPv6 underlay only:
// the topology has no IPv4 VTEP, so planning synthesizes Geneve over IPv6.
func newOffloadHarness6Only(t *testing.T) (*harness, *recordSink6) {
	h, sink := newOffloadHarness6(t)
	h.topo.VTEP = packet.IP4{}
	if err := h.pl.SetTopology(h.topo); err != nil {
		t.Fatal(err)
	}
	return h, sink
}

// TestIPv6CandidatesReportedUntilSeen: an IPv6 connection that crossed
// both zones is reported as a Candidate6 (never as an IPv4 Candidate)
// with its arrival key and both zones' Table6 handles, until the manager
// marks it seen.
func TestIPv6CandidatesReportedUntilSeen(t *testing.T) {
	h, sink := newOffloadHarness6(t)
	for i := 0; i < 2; i++ {
		wantTX(t, h.run(flow.Underlay, egress6(t, d6VM1, 64, 40000)), flow.External)
	}
	if len(sink.got6) != 2 || len(sink.got) != 0 {
		t.Fatalf("%d IPv6 and %d IPv4 candidates, want 2 IPv6 (one per packet)", len(sink.got6), len(sink.got))
	}
	c := sink.got6[0]
	want := flow.Key6{InPort: flow.Underlay, VNI: 1, InnerDst: macGR, Src: d6VM1, Dst: d6Server, SrcPort: 40000, DstPort: 53, Proto: packet.ProtoUDP}
	if c.Key != want {
		t.Fatalf("candidate key %+v, want %+v", c.Key, want)
	}
	ct6 := h.pl.Conntrack6()
	for _, fc := range c.Conns {
		ci, ok := ct6.Get(fc.Handle)
		if !ok || fc.Dir != conntrack.DirOrig || ci.Orig.Src != d6VM1 {
			t.Fatalf("candidate conns %+v (in Table6: %v %+v)", c.Conns, ok, ci.Orig)
		}
		ct6.SetMark(fc.Handle, flow.MarkOffloadSeen)
	}
	sink.got6 = nil
	wantTX(t, h.run(flow.Underlay, egress6(t, d6VM1, 64, 40000)), flow.External)
	if len(sink.got6) != 0 {
		t.Fatalf("%d candidates after the manager marked the connection", len(sink.got6))
	}
}

// applyTo runs a on a copy of frame as a fast path would (decapsulating
// first for an underlay flow) and returns the frame it would transmit.
func applyTo(t *testing.T, a *flow.Action6, frame []byte) []byte {
	t.Helper()
	const head = 256
	buf := make([]byte, head+len(frame))
	copy(buf[head:], frame)
	off, n := head, len(frame)
	if a.Decap {
		var d geneve.Decapped
		if geneve.DecapDual(frame, &d) != geneve.OK {
			t.Fatal("input does not decapsulate")
		}
		off, n = head+d.InnerOff, d.End-d.InnerOff
	}
	var p packet.Parsed
	if p.DecodeDual(buf[off:off+n]) != packet.OK || p.Family != 6 {
		t.Fatal("input does not parse as IPv6")
	}
	if !a.Applicable(p.TTL, p.End-p.L3Off, off) {
		t.Fatalf("action %+v not applicable to hop %d len %d", a, p.TTL, p.End-p.L3Off)
	}
	o, l := flow.Apply6(a, buf, off, n, &p)
	return buf[o : o+l]
}

// plan6Case is one IPv6 flow: its first packet and the answer to it.
type plan6Case struct {
	name  string
	out   func() []byte // a packet of the flow, as it arrives
	back  func() []byte // an answer, as it arrives
	wantT bool          // the flow is NAT66-ed
	u6    bool          // the VM's chassis is on the IPv6 underlay
	only6 bool          // the gateway has no IPv4 VTEP
}

// TestPlanFlow6EqualsPipeline plans IPv6 flows (NAT66, routed, over the
// IPv6 underlay) and checks that applying each planned action to a
// packet gives, byte for byte, the frame the pipeline sends for it.
func TestPlanFlow6EqualsPipeline(t *testing.T) {
	for _, tc := range []plan6Case{
		{name: "nat66", wantT: true,
			out:  func() []byte { return egress6(t, d6VM1, 64, 40000) },
			back: func() []byte { return reply6(t, d6SNAT, 0) }},
		{name: "routed",
			out:  func() []byte { return egress6(t, d6VM2, 64, 40001) },
			back: func() []byte { return reply6(t, d6VM2, 40001) }},
		{name: "underlay6", u6: true,
			out: func() []byte {
				return under6(t, v6Frame(t, macDR, macGR, d6VM3, d6Server, 64, nil, layers.IPProtocolUDP,
					&layers.UDP{SrcPort: 40005, DstPort: 53}, gopacket.Payload("query")), d6Node03)
			},
			back: func() []byte { return reply6(t, d6VM3, 40005) }},
		{name: "underlay6-only", u6: true, only6: true,
			out: func() []byte {
				return under6(t, v6Frame(t, macDR, macGR, d6VM3, d6Server, 64, nil, layers.IPProtocolUDP,
					&layers.UDP{SrcPort: 40006, DstPort: 53}, gopacket.Payload("query")), d6Node03)
			},
			back: func() []byte { return reply6(t, d6VM3, 40006) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, sink := newOffloadHarness6(t)
			if tc.only6 {
				h, sink = newOffloadHarness6Only(t)
			}
			out := h.run(flow.Underlay, tc.out())
			wantTX(t, out, flow.External)
			sport := outIPv6(t, out.Frame()).SrcPort
			back := tc.back()
			if tc.wantT {
				back = reply6(t, d6SNAT, sport)
			}
			wantTX(t, h.run(flow.External, back), flow.Underlay)
			if len(sink.got6) == 0 {
				t.Fatal("no IPv6 candidate")
			}
			before, _ := h.pl.Conntrack6().Get(sink.got6[0].Conns[1].Handle)
			fwd, rev, err := h.pl.PlanFlow6(sink.got6[0])
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := h.pl.Conntrack6().Get(sink.got6[0].Conns[1].Handle); after.Packets != before.Packets || after.Expires != before.Expires {
				t.Fatalf("planning changed the connection: %+v -> %+v", before, after)
			}
			if fwd.Translates() != tc.wantT || !fwd.Decap || fwd.OutPort != flow.External || rev.OutPort != flow.Underlay ||
				!rev.Encap || rev.Underlay6 != tc.u6 || fwd.HopDec != 1 {
				t.Fatalf("fwd %+v\nrev %+v", fwd, rev)
			}
			for i := range fwd.Conns {
				if fwd.Conns[i].Handle != rev.Conns[i].Handle || fwd.Conns[i].Dir != conntrack.DirOrig || rev.Conns[i].Dir != conntrack.DirReply {
					t.Fatalf("conns fwd %+v rev %+v", fwd.Conns, rev.Conns)
				}
			}
			// The same packets again, through the pipeline and through the
			// planned actions.
			in := tc.out()
			got := applyTo(t, &fwd, in)
			pout := h.run(flow.Underlay, in)
			wantTX(t, pout, flow.External)
			if !bytes.Equal(got, pout.Frame()) {
				t.Fatalf("forward action differs from the pipeline:\nplan %x\npipe %x", got, pout.Frame())
			}
			in = back
			got = applyTo(t, &rev, in)
			pback := h.run(flow.External, in)
			wantTX(t, pback, flow.Underlay)
			if !bytes.Equal(got, pback.Frame()) {
				t.Fatalf("reverse action differs from the pipeline:\nplan %x\npipe %x", got, pback.Frame())
			}
		})
	}
}

// TestPlanFlow6OneWay plans an IPv6 UDP flow that was never answered.
func TestPlanFlow6OneWay(t *testing.T) {
	h, sink := newOffloadHarness6(t)
	for i := 0; i < 3; i++ {
		wantTX(t, h.run(flow.Underlay, egress6(t, d6VM1, 64, 40010)), flow.External)
	}
	fwd, rev, err := h.pl.PlanFlow6(sink.got6[0])
	if err != nil {
		t.Fatalf("one-way UDP: %v", err)
	}
	if fwd.OutPort != flow.External || rev.OutPort != flow.Underlay || !rev.Encap || rev.Key.Dst != d6SNAT {
		t.Fatalf("fwd %+v rev %+v", fwd, rev)
	}
	h.pl.Conntrack6().Range(func(ci conntrack.ConnInfo6) bool {
		if ci.State&conntrack.Established != 0 {
			t.Error("planning answered the connection")
		}
		return true
	})
}

// TestPlanFlow6GoneConnection: a candidate whose connection expired
// cannot be planned.
func TestPlanFlow6GoneConnection(t *testing.T) {
	h, sink := newOffloadHarness6(t)
	wantTX(t, h.run(flow.Underlay, egress6(t, d6VM1, 64, 40011)), flow.External)
	c := sink.got6[0]
	h.pl.Conntrack6().Delete(c.Conns[1].Handle)
	if _, _, err := h.pl.PlanFlow6(c); err == nil {
		t.Fatal("planned a flow whose SNAT-zone connection is gone")
	}
}

// TestIPv6WithdrawOnFin: a FIN on an IPv6 connection the manager took in
// hand is reported with Withdraw6 (the fast path punts FIN to software).
func TestIPv6WithdrawOnFin(t *testing.T) {
	h, sink := newOffloadHarness6(t)
	eg := func(l *layers.TCP) []byte {
		l.SrcPort, l.DstPort, l.Window = 40020, 80, 1000
		inner := v6Frame(t, macDR, macGR, d6VM2, d6Server, 64, nil, layers.IPProtocolTCP, l)
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, inner)
	}
	in := func(l *layers.TCP) []byte {
		l.SrcPort, l.DstPort, l.Window = 80, 40020, 1000
		return v6Frame(t, packet.MAC(seedtest.MACNextHop), packet.MAC(seedtest.MACGRExt), d6Server, d6VM2, 60, nil, layers.IPProtocolTCP, l)
	}
	wantTX(t, h.run(flow.Underlay, eg(&layers.TCP{SYN: true, Seq: 100})), flow.External)
	wantTX(t, h.run(flow.External, in(&layers.TCP{SYN: true, ACK: true, Seq: 500, Ack: 101})), flow.Underlay)
	wantTX(t, h.run(flow.Underlay, eg(&layers.TCP{ACK: true, Seq: 101, Ack: 501})), flow.External)
	if len(sink.got6) == 0 {
		t.Fatal("no IPv6 candidate")
	}
	c := sink.got6[0]
	for _, fc := range c.Conns {
		h.pl.Conntrack6().SetMark(fc.Handle, flow.MarkOffloadSeen)
	}
	if len(sink.withdrawn6) != 0 {
		t.Fatal("withdrawn without FIN")
	}
	wantTX(t, h.run(flow.Underlay, eg(&layers.TCP{FIN: true, ACK: true, Seq: 101, Ack: 501})), flow.External)
	if len(sink.withdrawn6) != 2 || sink.withdrawn6[0] != c.Conns[0].Handle || sink.withdrawn6[1] != c.Conns[1].Handle {
		t.Fatalf("withdrawn %v, want both zones' handles %+v", sink.withdrawn6, c.Conns)
	}
	if len(sink.withdrawn) != 0 {
		t.Fatal("an IPv6 handle was withdrawn as an IPv4 one")
	}
}

// countSink6 counts candidates of both families without keeping them.
type countSink6 struct{ n, n6 int }

func (s *countSink6) Candidates(c []flow.Candidate)   { s.n += len(c) }
func (s *countSink6) Withdraw(conntrack.Handle)       {}
func (s *countSink6) Candidates6(c []flow.Candidate6) { s.n6 += len(c) }
func (s *countSink6) Withdraw6(conntrack.Handle)      {}

// TestIPv6CandidatesZeroAllocs: reporting IPv6 candidates (connections
// never marked seen, so every packet reports) allocates nothing.
func TestIPv6CandidatesZeroAllocs(t *testing.T) {
	h := newHarness6(t)
	sink := &countSink6{}
	h.pl.SetOffload(sink)
	eg := egress6(t, d6VM1, 64, 40030)
	first := h.run(flow.Underlay, eg)
	wantTX(t, first, flow.External)
	rep := reply6(t, d6SNAT, outIPv6(t, first.Frame()).SrcPort)
	buf := make([]byte, 2*(headroom+2048))
	batch := make([]Packet, 2)
	allocs := testing.AllocsPerRun(200, func() {
		b0, b1 := buf[:headroom+2048], buf[headroom+2048:]
		copy(b0[headroom:], eg)
		copy(b1[headroom:], rep)
		batch[0] = Packet{Buf: b0, Off: headroom, Len: len(eg), InPort: flow.Underlay}
		batch[1] = Packet{Buf: b1, Off: headroom, Len: len(rep), InPort: flow.External}
		h.w.Process(batch)
	})
	if allocs != 0 {
		t.Fatalf("pipeline with an IPv6 offload sink allocates %v per batch", allocs)
	}
	if sink.n6 < 400 || sink.n != 0 {
		t.Fatalf("%d IPv6 and %d IPv4 candidates reported over 200 batches of 2; the IPv6 sink path was not exercised", sink.n6, sink.n)
	}
}

// askedNeighbors6 records the IPv6 next hops it is asked for, and knows
// none.
type askedNeighbors6 struct{ asked []packet.IP6 }

func (a *askedNeighbors6) Lookup6(ip packet.IP6) (packet.MAC, bool) {
	a.asked = append(a.asked, ip)
	return packet.MAC{}, false
}

// TestAskNeighborsIPv6Chassis: a new topology asks for the MAC of every
// chassis on the IPv6 underlay, so that a one-way flow's reverse
// direction can be planned without waiting for traffic toward it.
func TestAskNeighborsIPv6Chassis(t *testing.T) {
	h := newHarness6(t)
	n6 := &askedNeighbors6{}
	_, err := New(Config{Topology: h.topo, Conntrack: h.ct, Neighbors: harnessNeighbors(), Neighbors6: n6})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range n6.asked {
		if ip == d6Node03 {
			return
		}
	}
	t.Fatalf("asked for %v, want node03's IPv6 VTEP %v", n6.asked, d6Node03)
}
