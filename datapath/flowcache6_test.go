package datapath

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

type step6 struct {
	port  flow.Port
	frame []byte
}

// script6 is script for IPv6 through the dual-stack topology: an
// answered NAT66 UDP flow (vm1), a routed TCP connection with data both
// ways and a teardown (vm2), a NAT66 ping, a one-way UDP flow, and a
// routed UDP flow of vm3 over the IPv6 underlay, interleaved.
func script6(t *testing.T) []step6 {
	var s []step6
	add := func(port flow.Port, f []byte) { s = append(s, step6{port, f}) }
	extMAC, nhMAC := packet.MAC(seedtest.MACGRExt), packet.MAC(seedtest.MACNextHop)
	tcpEg := func(flags string, seq, ack uint32, data string) []byte {
		l := &layers.TCP{SrcPort: 40100, DstPort: 80, Seq: seq, Ack: ack, Window: 65535, SYN: strings.Contains(flags, "S"),
			ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F")}
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
			v6Frame(t, macDR, macGR, d6VM2, d6Server, 64, nil, layers.IPProtocolTCP, l, gopacket.Payload(data)))
	}
	tcpRp := func(flags string, seq, ack uint32, data string) []byte {
		l := &layers.TCP{SrcPort: 80, DstPort: 40100, Seq: seq, Ack: ack, Window: 65535, SYN: strings.Contains(flags, "S"),
			ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F")}
		return v6Frame(t, nhMAC, extMAC, d6Server, d6VM2, 60, nil, layers.IPProtocolTCP, l, gopacket.Payload(data))
	}
	ping := seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
		v6Frame(t, macDR, macGR, d6VM1, d6Server, 64, nil, layers.IPProtocolICMPv6,
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
			&layers.ICMPv6Echo{Identifier: 40200, SeqNumber: 1}, gopacket.Payload("ping")))
	pong := v6Frame(t, nhMAC, extMAC, d6Server, d6SNAT, 60, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0)},
		&layers.ICMPv6Echo{Identifier: 40200, SeqNumber: 1}, gopacket.Payload("ping"))
	vm3 := under6(t, v6Frame(t, macDR, macGR, d6VM3, d6Server, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 40300, DstPort: 53}, gopacket.Payload("query")), d6Node03)

	add(flow.Underlay, tcpEg("S", 100, 0, ""))
	add(flow.External, tcpRp("SA", 900, 101, ""))
	add(flow.Underlay, tcpEg("A", 101, 901, ""))
	seq, rseq := uint32(101), uint32(901)
	for range 20 {
		add(flow.Underlay, tcpEg("A", seq, rseq, "request"))
		seq += 7
		add(flow.External, tcpRp("A", rseq, seq, "response!"))
		rseq += 9
		add(flow.Underlay, egress6(t, d6VM1, 64, 40010))
		add(flow.External, reply6(t, d6SNAT, 40010))
		add(flow.Underlay, egress6(t, d6VM1, 64, 40011)) // one way
		add(flow.Underlay, ping)
		add(flow.External, pong)
		add(flow.Underlay, vm3)
		add(flow.External, reply6(t, d6VM3, 40300))
	}
	add(flow.Underlay, tcpEg("AF", seq, rseq, ""))
	add(flow.External, tcpRp("AF", rseq, seq+1, ""))
	add(flow.Underlay, tcpEg("A", seq+1, rseq+1, ""))
	// Data after the close takes the full pipeline again.
	add(flow.Underlay, tcpEg("A", seq+1, rseq+1, "late"))
	return s
}

// TestFlowCache6MatchesPipeline runs script6 through a pipeline with the
// flow cache and one without: every output frame byte for byte the same,
// and IPv6 conntrack (counters, timeouts) too; the cache served most of it.
func TestFlowCache6MatchesPipeline(t *testing.T) {
	with, without := newHarness6(t), newHarness6(t)
	without.w.cache = nil
	s := script6(t)
	for i, st := range s {
		a, b := with.run(st.port, st.frame), without.run(st.port, st.frame)
		if a.Verdict != b.Verdict || a.Reason != b.Reason || a.OutPort != b.OutPort || !bytes.Equal(a.Frame(), b.Frame()) {
			t.Fatalf("packet %d: cache %v/%v/%v % x\n   pipeline %v/%v/%v % x", i, a.Verdict, a.Reason, a.OutPort, a.Frame(), b.Verdict, b.Reason, b.OutPort, b.Frame())
		}
		if a.Verdict != VerdictTX {
			t.Fatalf("packet %d not forwarded: %v %v", i, a.Verdict, a.Reason)
		}
		with.now += 1e6
		without.now += 1e6
	}
	hits := with.pl.Stats().CacheHits
	if hits < 100 {
		t.Fatalf("only %d cache hits of %d packets: the cache was hardly used", hits, len(s))
	}
	if without.pl.Stats().CacheHits != 0 {
		t.Fatal("cache hits with the cache off")
	}
	var da, db strings.Builder
	with.pl.Conntrack6().Dump(&da, conntrack.DumpOptions{Zone: -1, Verbose: true, Now: with.now})
	without.pl.Conntrack6().Dump(&db, conntrack.DumpOptions{Zone: -1, Verbose: true, Now: without.now})
	if da.String() != db.String() {
		t.Fatalf("IPv6 conntrack differs with the cache:\n%s\nwithout:\n%s", da.String(), db.String())
	}
	t.Logf("%d of %d packets from the cache", hits, len(s))
}

// TestFlowCache6Invalidation: a cached IPv6 flow stops hitting when its
// connection expires (the handle goes stale in Table6), and a FIN takes
// the pipeline.
func TestFlowCache6Invalidation(t *testing.T) {
	h := newHarness6(t)
	eg := egress6(t, d6VM1, 64, 40020)
	hits := func() uint64 { return h.pl.Stats().CacheHits }
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	wantTX(t, h.run(flow.External, reply6(t, d6SNAT, 40020)), flow.Underlay)
	wantTX(t, h.run(flow.Underlay, eg), flow.External) // learns
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	if hits() != 1 {
		t.Fatalf("hits %d after learning, want 1", hits())
	}
	// Past the UDP timeout the connection is gone: no hit, and the
	// pipeline starts a new connection (one-way: UDP first).
	h.now += int64(conntrack.DefaultTimeouts().UDPMultiple) + 1e9
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	if hits() != 1 {
		t.Fatalf("hit on an expired connection (hits %d)", hits())
	}
	if h.pl.Conntrack6().Len() == 0 {
		t.Fatal("no connection after the expired one was replaced")
	}

	// A FIN never hits, and the segment after it is the pipeline's.
	tcp := func(flags string, seq, ack uint32) []byte {
		l := &layers.TCP{SrcPort: 40101, DstPort: 80, Seq: seq, Ack: ack, Window: 65535, SYN: strings.Contains(flags, "S"),
			ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F")}
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
			v6Frame(t, macDR, macGR, d6VM2, d6Server, 64, nil, layers.IPProtocolTCP, l, gopacket.Payload("x")))
	}
	rp := func(flags string, seq, ack uint32) []byte {
		l := &layers.TCP{SrcPort: 80, DstPort: 40101, Seq: seq, Ack: ack, Window: 65535, SYN: strings.Contains(flags, "S"),
			ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F")}
		return v6Frame(t, packet.MAC(seedtest.MACNextHop), packet.MAC(seedtest.MACGRExt), d6Server, d6VM2, 60, nil, layers.IPProtocolTCP, l)
	}
	wantTX(t, h.run(flow.Underlay, tcp("S", 100, 0)), flow.External)
	wantTX(t, h.run(flow.External, rp("SA", 900, 101)), flow.Underlay)
	wantTX(t, h.run(flow.Underlay, tcp("A", 101, 901)), flow.External) // learns
	before := hits()
	wantTX(t, h.run(flow.Underlay, tcp("A", 102, 901)), flow.External)
	if hits() != before+1 {
		t.Fatalf("established TCP segment did not hit (hits %d, was %d)", hits(), before)
	}
	wantTX(t, h.run(flow.Underlay, tcp("AF", 103, 901)), flow.External)
	if hits() != before+1 {
		t.Fatal("a FIN was served by the cache")
	}
}

// TestFlowCache6UnderlayIPv6ZeroAllocs: vm3's flow over the IPv6
// underlay is cached both ways (Geneve over IPv6 decapsulated and
// encapsulated from the cache), and its hits allocate nothing.
func TestFlowCache6UnderlayIPv6ZeroAllocs(t *testing.T) {
	h := newHarness6(t)
	eg := under6(t, v6Frame(t, macDR, macGR, d6VM3, d6Server, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 40301, DstPort: 53}, gopacket.Payload("query")), d6Node03)
	rp := reply6(t, d6VM3, 40301)
	for range 2 { // the second round learns both directions
		wantTX(t, h.run(flow.Underlay, eg), flow.External)
		wantTX(t, h.run(flow.External, rp), flow.Underlay)
	}
	before := h.pl.Stats().CacheHits
	buf := make([]byte, 2*(headroom+2048))
	batch := make([]Packet, 2)
	allocs := testing.AllocsPerRun(100, func() {
		b0, b1 := buf[:headroom+2048], buf[headroom+2048:]
		copy(b0[headroom:], eg)
		copy(b1[headroom:], rp)
		batch[0] = Packet{Buf: b0, Off: headroom, Len: len(eg), InPort: flow.Underlay}
		batch[1] = Packet{Buf: b1, Off: headroom, Len: len(rp), InPort: flow.External}
		h.w.Process(batch)
	})
	if got := h.pl.Stats().CacheHits - before; got != 2*101 {
		t.Fatalf("%d cache hits over 101 batches of 2, want every packet", got)
	}
	if batch[1].OutPort != flow.Underlay || packet.Ethernet(batch[1].Frame()).EtherType() != packet.EtherTypeIPv6 {
		t.Fatalf("reply not encapsulated over IPv6: %v % x", batch[1].OutPort, batch[1].Frame()[:16])
	}
	if allocs != 0 {
		t.Fatalf("cached IPv6 packets allocate %v per batch", allocs)
	}
}

// TestFlowCache6Hairpin: vm1 to vm4's dnat_and_snat address and back
// (hairpin6: both zones, Geneve in and out, the answer over the IPv6
// underlay) from the cache: byte for byte the pipeline's output, and
// counted as hairpin as the pipeline counts it.
func TestFlowCache6Hairpin(t *testing.T) {
	with, without := newHarness6(t), newHarness6(t)
	without.w.cache = nil
	req := seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, v6Frame(t, macDR, macGR, d6VM1, d6VM4Float, 64, nil,
		layers.IPProtocolUDP, &layers.UDP{SrcPort: 40021, DstPort: 53}, gopacket.Payload("hairpin")))
	var ans []byte
	for i := range 10 {
		a, b := with.run(flow.Underlay, req), without.run(flow.Underlay, req)
		wantTX(t, a, flow.Underlay)
		if !bytes.Equal(a.Frame(), b.Frame()) {
			t.Fatalf("request %d: cache % x\n   pipeline % x", i, a.Frame(), b.Frame())
		}
		if ans == nil {
			var d geneve.Decapped
			if geneve.DecapDual(a.Frame(), &d) != geneve.OK {
				t.Fatal("hairpin output does not decapsulate")
			}
			natPort := outIPv6(t, a.Frame()[d.InnerOff:d.End]).SrcPort
			ans = under6(t, v6Frame(t, macDR, macGR, d6VM4, d6SNAT, 64, nil, layers.IPProtocolUDP,
				&layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(natPort)}, gopacket.Payload("answer")), d6Node03)
		}
		a, b = with.run(flow.Underlay, ans), without.run(flow.Underlay, ans)
		wantTX(t, a, flow.Underlay)
		if !bytes.Equal(a.Frame(), b.Frame()) {
			t.Fatalf("answer %d: cache % x\n   pipeline % x", i, a.Frame(), b.Frame())
		}
	}
	if hits := with.pl.Stats().CacheHits; hits < 14 {
		t.Fatalf("%d cache hits of 20 hairpinned packets", hits)
	}
	if a, b := with.w.c.fwd[FamilyIPv6], without.w.c.fwd[FamilyIPv6]; a != b {
		t.Fatalf("IPv6 forwarding counters with the cache %+v, without %+v", a, b)
	}
}
