package datapath

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// hold6Harness is the dual-stack harness with the IPv6 external next hop
// unresolved (the IPv4 one known); it returns the IPv6 neighbour table to
// resolve it in.
func hold6Harness(t *testing.T, cfg HoldConfig) (*harness, route.StaticNeighbors6) {
	t.Helper()
	topo := seedtest.Topology(t, filepath.Join("testdata", "dual-stack-v4.yaml"))
	ct, err := conntrack.NewTable(conntrack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, topo: topo, ct: ct, now: 1_000_000_000}
	n6 := route.StaticNeighbors6{d6Node03: packet.MAC(seedtest.MACHV)}
	h.pl, err = New(Config{Topology: topo, Conntrack: ct, Neighbors: dualNeighbors{harnessNeighbors(), n6},
		UnderlayMAC: packet.MAC(seedtest.MACGWUnder), Clock: func() int64 { return h.now }, Hold: cfg})
	if err != nil {
		t.Fatal(err)
	}
	h.w = h.pl.NewWorker()
	return h, n6
}

// TestNeighborMissHeld6: the first IPv6 packets toward an unresolved IPv6
// next hop are held, not dropped as neighbor-miss, and leave in order,
// byte for byte as with the MAC known, once it resolves; IPv4 toward its
// (resolved) next hop is not held behind them.
func TestNeighborMissHeld6(t *testing.T) {
	h, n6 := hold6Harness(t, HoldConfig{})
	var in [][]byte
	for i := range 3 {
		f := egress6(t, d6VM1, 64, uint16(41000+i))
		in = append(in, f)
		if p := h.run(flow.Underlay, f); p.Verdict != VerdictHeld {
			t.Fatalf("IPv6 packet %d: %v %v, want held", i, p.Verdict, p.Reason)
		}
	}
	wantTX(t, h.run(flow.Underlay, udpEgress(t, 7400, "v4")), flow.External)
	out := make([]Packet, 8)
	if n, pending := h.w.Ready(out); n != 0 || !pending {
		t.Fatalf("before resolution Ready = %d, %v", n, pending)
	}
	n6[d6NextHop] = packet.MAC(seedtest.MACNextHop)
	n, pending := h.w.Ready(out)
	if n != 3 || pending {
		t.Fatalf("after resolution Ready = %d, %v; want 3, false", n, pending)
	}
	ref := newHarness6(t)
	for i := range n {
		want := ref.run(flow.Underlay, in[i])
		wantTX(t, want, flow.External)
		if out[i].Verdict != VerdictTX || out[i].OutPort != flow.External {
			t.Fatalf("released %d: %v on %v", i, out[i].Verdict, out[i].OutPort)
		}
		if !bytes.Equal(out[i].Frame(), want.Frame()) {
			t.Errorf("released %d\n got %x\nwant %x", i, out[i].Frame(), want.Frame())
		}
	}
	if st := h.pl.Stats(); st.Held != 3 || st.HoldSent != 3 || st.Drops[DropNeighMiss] != 0 {
		t.Errorf("held %d sent %d neighbor-miss %d", st.Held, st.HoldSent, st.Drops[DropNeighMiss])
	}
	// Resolved: the next packet goes straight out.
	wantTX(t, h.run(flow.Underlay, egress6(t, d6VM1, 64, 41000)), flow.External)
}

// TestHeldPacketsTimeOut6: IPv6 frames whose next hop never resolves are
// dropped after the timeout, counted.
func TestHeldPacketsTimeOut6(t *testing.T) {
	h, _ := hold6Harness(t, HoldConfig{Timeout: 2 * time.Second})
	if p := h.run(flow.Underlay, egress6(t, d6VM1, 64, 41010)); p.Verdict != VerdictHeld {
		t.Fatalf("%v %v, want held", p.Verdict, p.Reason)
	}
	out := make([]Packet, 4)
	h.now += int64(2 * time.Second)
	if n, pending := h.w.Ready(out); n != 0 || pending {
		t.Fatalf("at the timeout: %d %v", n, pending)
	}
	if d := h.pl.Stats().Drops[DropNeighTimeout]; d != 1 {
		t.Fatalf("neighbor-hold-timeout drops %d, want 1", d)
	}
}

// TestHoldKeysByFamily: an IPv4 next hop and an IPv6 one with the same
// last four bytes (::c000:201 and 192.0.2.1) are held apart.
func TestHoldKeysByFamily(t *testing.T) {
	q := newHoldQueue(HoldConfig{PerHop: 2, Total: 4, FrameSize: 64, Timeout: time.Second})
	v4 := packet.IP4{192, 0, 2, 1}
	v6 := packet.MustIP6("::c000:201")
	if q.add(v4, []byte{4}, 0) != holdOK || q.addKey(hopKey6(v6), []byte{6}, 0) != holdOK {
		t.Fatal("add refused")
	}
	if q.nHops != 2 || !q.holding(v4) || !q.holdingKey(hopKey6(v6)) || q.holdingKey(hopKey6(packet.MustIP6("::ffff:192.0.2.1"))) {
		t.Fatalf("hops %d: keys of the two families mixed", q.nHops)
	}
}

// TestHold6ZeroAllocs: holding an IPv6 packet, polling its next hop and
// timing it out allocate nothing.
func TestHold6ZeroAllocs(t *testing.T) {
	h, _ := hold6Harness(t, HoldConfig{Timeout: time.Second})
	f := egress6(t, d6VM1, 64, 41020)
	buf := make([]byte, headroom+2048)
	batch := make([]Packet, 1)
	out := make([]Packet, 4)
	allocs := testing.AllocsPerRun(200, func() {
		copy(buf[headroom:], f)
		batch[0] = Packet{Buf: buf, Off: headroom, Len: len(f), InPort: flow.Underlay}
		h.w.Process(batch)
		h.w.Ready(out)
		h.now += int64(time.Second)
		h.w.Ready(out)
	})
	if batch[0].Verdict != VerdictHeld {
		t.Fatalf("%v %v, want held", batch[0].Verdict, batch[0].Reason)
	}
	if allocs != 0 {
		t.Fatalf("IPv6 hold allocates %v per packet", allocs)
	}
}
