package datapath

import (
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// recordSink keeps every candidate it is handed.
type recordSink struct {
	got       []flow.Candidate
	withdrawn []conntrack.Handle
}

func (r *recordSink) Candidates(c []flow.Candidate) { r.got = append(r.got, c...) }
func (r *recordSink) Withdraw(h conntrack.Handle)   { r.withdrawn = append(r.withdrawn, h) }

func newOffloadHarness(t *testing.T) (*harness, *recordSink) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	sink := &recordSink{}
	h.pl.sink = sink
	return h, sink
}

func TestCandidatesReportedUntilSeen(t *testing.T) {
	h, sink := newOffloadHarness(t)
	eg := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53})
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	if len(sink.got) != 2 {
		t.Fatalf("%d candidates before the manager saw the flow, want one per packet (2)", len(sink.got))
	}
	c := sink.got[0]
	want := flow.Key{InPort: flow.Underlay, VNI: 1, InnerDst: packet.MAC(seedtest.MACGRJoin), Src: packet.IP4(seedtest.VM.To4()),
		Dst: packet.IP4(seedtest.Server.To4()), SrcPort: 5555, DstPort: 53, Proto: packet.ProtoUDP}
	if c.Key != want {
		t.Fatalf("candidate key %+v, want %+v", c.Key, want)
	}
	for _, fc := range c.Conns {
		if fc.Handle == 0 || fc.Dir != conntrack.DirOrig {
			t.Fatalf("candidate conns %+v", c.Conns)
		}
		h.ct.SetMark(fc.Handle, flow.MarkOffloadSeen)
	}
	sink.got = nil
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	wantTX(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5555})), flow.Underlay)
	if len(sink.got) != 0 {
		t.Fatalf("%d candidates after the manager marked the connection", len(sink.got))
	}
	// Related ICMP errors and unsolicited packets are never candidates.
	wantDrop(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 1, DPort: 2, SYN: true})), DropNoConn)
	if len(sink.got) != 0 {
		t.Fatalf("dropped packet reported as a candidate")
	}
}

// TestPlanFlowMatchesPipeline plans the seed's UDP flow and checks both
// actions against what the pipeline really does to packets of each
// direction.
func TestPlanFlowMatchesPipeline(t *testing.T) {
	h, sink := newOffloadHarness(t)
	eg := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: []byte("q")})
	out := h.run(flow.Underlay, eg)
	wantTX(t, out, flow.External)
	back := h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5555, Payload: []byte("a")}))
	wantTX(t, back, flow.Underlay)

	before := conns(h, 16)[0]
	fwd, rev, err := h.pl.PlanFlow(sink.got[0])
	if err != nil {
		t.Fatal(err)
	}
	if after := conns(h, 16)[0]; after.Packets != before.Packets || after.Expires != before.Expires {
		t.Fatalf("planning changed the connection: %+v -> %+v", before, after)
	}

	// Forward (egress): decap, route to the external next hop, SNAT.
	var op packet.Parsed
	of := out.Frame()
	if op.Decode(of) != packet.OK {
		t.Fatal("pipeline output does not parse")
	}
	if !fwd.Decap || fwd.Encap || fwd.OutPort != flow.External || fwd.TTLDec != 1 {
		t.Fatalf("fwd action: %+v", fwd)
	}
	if fwd.EthSrc != packet.Ethernet(of).Src() || fwd.EthDst != packet.Ethernet(of).Dst() ||
		fwd.NATSrc != op.Src || fwd.NATDst != op.Dst || fwd.NATSrcPort != op.SrcPort || fwd.NATDstPort != op.DstPort {
		t.Fatalf("fwd action %+v does not match the pipeline's output %+v", fwd, op)
	}

	// Reverse (ingress): un-SNAT, two router hops, encap to the chassis.
	bf := back.Frame()
	var ip packet.Parsed
	inner := bf[58:]
	if ip.Decode(inner) != packet.OK {
		t.Fatal("pipeline ingress output does not parse")
	}
	if rev.Decap || !rev.Encap || rev.OutPort != flow.Underlay || rev.TTLDec != 2 {
		t.Fatalf("rev action: %+v", rev)
	}
	wantKey := flow.Key{InPort: flow.External, Src: op.Dst, Dst: op.Src, SrcPort: op.DstPort, DstPort: op.SrcPort, Proto: packet.ProtoUDP}
	if rev.Key != wantKey {
		t.Fatalf("rev key %+v, want %+v", rev.Key, wantKey)
	}
	if rev.EthSrc != packet.Ethernet(inner).Src() || rev.EthDst != packet.Ethernet(inner).Dst() ||
		rev.NATDst != ip.Dst || rev.NATDstPort != ip.DstPort || rev.NATSrc != ip.Src {
		t.Fatalf("rev action %+v does not match the pipeline's output %+v", rev, ip)
	}
	if rev.Outer.VNI != 9 || rev.Outer.InPort != 1 || rev.Outer.OutPort != 2 || rev.Outer.Dst != packet.IP4(seedtest.Chassis.To4()) ||
		!rev.Outer.Checksum || rev.Outer.DstMAC != packet.MAC(seedtest.MACHV) {
		t.Fatalf("rev outer: %+v", rev.Outer)
	}
	// The outer header the pipeline wrote uses the same entropy port.
	if sport := uint16(bf[34])<<8 | uint16(bf[35]); sport != rev.Outer.SrcPort {
		t.Fatalf("outer source port %d, plan %d", sport, rev.Outer.SrcPort)
	}
	for i := range fwd.Conns {
		if fwd.Conns[i].Handle != rev.Conns[i].Handle || fwd.Conns[i].Dir != conntrack.DirOrig || rev.Conns[i].Dir != conntrack.DirReply {
			t.Fatalf("conns fwd %+v rev %+v", fwd.Conns, rev.Conns)
		}
	}
}

func TestPlanFlowGoneConnection(t *testing.T) {
	h, sink := newOffloadHarness(t)
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 4000, DPort: 80, SYN: true})), flow.External)
	c := sink.got[0]
	h.ct.Delete(c.Conns[1].Handle)
	if _, _, err := h.pl.PlanFlow(c); err == nil {
		t.Fatal("planned a flow whose SNAT connection is gone")
	}
}

// countSink counts candidates without keeping them.
type countSink struct{ n int }

func (c *countSink) Candidates(cs []flow.Candidate) { c.n += len(cs) }
func (c *countSink) Withdraw(conntrack.Handle)      {}

func TestCandidatesZeroAllocs(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	sink := &countSink{}
	h.pl.sink = sink
	fs := establishedFlows(t, h, 64)
	start := 0
	if a := testing.AllocsPerRun(100, func() {
		fs.fill(start)
		start += batchSize / 2
		h.w.Process(fs.batch)
	}); a != 0 {
		t.Fatalf("pipeline with an offload sink allocates %v per batch", a)
	}
	if sink.n < 100*batchSize {
		t.Fatalf("only %d candidates reported; the sink path was not exercised", sink.n)
	}
}

// TestFINWithdraws: a FIN on a connection the manager took in hand tells
// it at once, for each zone.
func TestFINWithdraws(t *testing.T) {
	h, sink := newOffloadHarness(t)
	syn := seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 41000, DPort: 80, SYN: true, Seq: 1}
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, syn)), flow.External)
	wantTX(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 80, DPort: 41000, SYN: true, ACK: true, Seq: 50, AckNum: 2})), flow.Underlay)
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 41000, DPort: 80, ACK: true, Seq: 2, AckNum: 51})), flow.External)
	if len(sink.withdrawn) != 0 {
		t.Fatal("withdrawn before the manager took the connection")
	}
	for _, fc := range sink.got[0].Conns {
		h.ct.SetMark(fc.Handle, flow.MarkOffloadSeen)
	}
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 41000, DPort: 80, ACK: true, FIN: true, Seq: 2, AckNum: 51})), flow.External)
	if len(sink.withdrawn) != 2 || sink.withdrawn[0] != sink.got[0].Conns[0].Handle || sink.withdrawn[1] != sink.got[0].Conns[1].Handle {
		t.Fatalf("withdrawn %v, want both zones' handles %v", sink.withdrawn, sink.got[0].Conns)
	}
}

// TestPlanFlowOneWay plans a UDP flow that was never answered: the reverse
// direction's synthetic packet finds a +new connection, which is still a
// connection.
func TestPlanFlowOneWay(t *testing.T) {
	h, sink := newOffloadHarness(t)
	for i := 0; i < 3; i++ {
		wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6100, DPort: 9, Payload: []byte("flood")})), flow.External)
	}
	fwd, rev, err := h.pl.PlanFlow(sink.got[0])
	if err != nil {
		t.Fatalf("one-way UDP: %v", err)
	}
	if fwd.OutPort != flow.External || rev.OutPort != flow.Underlay || !rev.Encap {
		t.Fatalf("fwd %+v rev %+v", fwd, rev)
	}
	for _, c := range conns(h, 16) {
		if c.State&conntrack.Established != 0 {
			t.Fatal("planning answered the connection")
		}
	}
}
