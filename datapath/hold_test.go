package datapath

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

func TestHoldQueueBounds(t *testing.T) {
	q := newHoldQueue(HoldConfig{PerHop: 2, Total: 3, FrameSize: 64, Timeout: time.Second})
	a, b, c := packet.IP4{192, 0, 2, 1}, packet.IP4{192, 0, 2, 2}, packet.IP4{192, 0, 2, 3}
	frame := func(x byte) []byte { return bytes.Repeat([]byte{x}, 60) }
	for i, s := range []struct {
		ip   packet.IP4
		f    []byte
		want holdResult
	}{
		{a, frame(1), holdOK},
		{a, frame(2), holdOK},
		{a, frame(3), holdFull}, // per hop
		{b, make([]byte, 65), holdTooBig},
		{b, frame(4), holdOK},
		{b, frame(5), holdFull}, // total: 3 slots
		{c, frame(6), holdFull}, // no slot for a new hop either
	} {
		if got := q.add(s.ip, s.f, 0); got != s.want {
			t.Fatalf("add %d: %v, want %v", i, got, s.want)
		}
	}
	if q.held != 3 || q.nHops != 2 || !q.holding(a) || q.holding(c) {
		t.Fatalf("held %d hops %d", q.held, q.nHops)
	}
	ia := q.find(a)
	if got := q.frame(q.hops[ia].slots[1]); !bytes.Equal(got, frame(2)) {
		t.Fatalf("second frame of a: %x", got[:4])
	}
	q.release(ia)
	if q.held != 1 || q.nHops != 1 || q.holding(a) || !q.holding(b) || len(q.free) != 2 {
		t.Fatalf("after release: held %d hops %d free %d", q.held, q.nHops, len(q.free))
	}
	// The freed slots serve a new hop, and b's frame is intact.
	if q.add(c, frame(7), 0) != holdOK || q.add(c, frame(8), 0) != holdOK {
		t.Fatal("freed slots not reused")
	}
	if got := q.frame(q.hops[q.find(b)].slots[0]); !bytes.Equal(got, frame(4)) {
		t.Fatalf("b's frame overwritten: %x", got[:4])
	}
}

// holdHarness is the seed harness with the external next hop unresolved;
// it returns the next hop's MAC to resolve it with.
func holdHarness(t *testing.T, cfg HoldConfig) (*harness, route.StaticNeighbors, packet.MAC) {
	t.Helper()
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{Capacity: 1024})
	h.pl.hold = cfg.withDefaults(0)
	h.w.hold = newHoldQueue(h.pl.hold)
	neigh := h.pl.neigh.(route.StaticNeighbors)
	mac := neigh[seedtest.NextHop]
	delete(neigh, seedtest.NextHop)
	return h, neigh, mac
}

func udpEgress(t *testing.T, sport uint16, payload string) []byte {
	return seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: sport, DPort: 53, Payload: []byte(payload)})
}

// The first packets toward an unresolved next hop are held, not dropped,
// and leave (in order, byte for byte as if the MAC had been known) once it
// resolves; beyond the per-hop bound they are dropped and counted.
func TestNeighborMissHeldUntilResolved(t *testing.T) {
	h, neigh, mac := holdHarness(t, HoldConfig{PerHop: 3})
	var in [][]byte
	for i := range 5 {
		f := udpEgress(t, uint16(7000+i), "first packet")
		in = append(in, f)
		p := h.run(flow.Underlay, f)
		if i < 3 && p.Verdict != VerdictHeld {
			t.Fatalf("packet %d: %v %v, want held", i, p.Verdict, p.Reason)
		}
		if i >= 3 {
			wantDrop(t, p, DropNeighHoldFull)
		}
	}
	out := make([]Packet, 8)
	if n, pending := h.w.Ready(out); n != 0 || !pending {
		t.Fatalf("before resolution Ready = %d, %v", n, pending)
	}
	neigh[seedtest.NextHop] = mac
	n, pending := h.w.Ready(out)
	if n != 3 || pending {
		t.Fatalf("after resolution Ready = %d, %v; want 3, false", n, pending)
	}

	// What the pipeline sends for the same packets with the MAC known.
	ref := newHarness(t, seedtest.ConfigPath(), conntrack.Config{Capacity: 1024})
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
	st := h.pl.Stats()
	if st.Held != 3 || st.HoldSent != 3 || st.Drops[DropNeighHoldFull] != 2 || st.Verdicts[VerdictHeld] != 3 {
		t.Errorf("held %d sent %d full %d verdict held %d", st.Held, st.HoldSent, st.Drops[DropNeighHoldFull], st.Verdicts[VerdictHeld])
	}
	if n, pending := h.w.Ready(out); n != 0 || pending {
		t.Errorf("queue not empty: %d %v", n, pending)
	}
	// Resolved: the next packet goes straight out.
	wantTX(t, h.run(flow.Underlay, udpEgress(t, 7000, "second")), flow.External)
}

// A packet toward a next hop that has frames waiting queues behind them
// even if the MAC arrived meanwhile, so a flow's packets keep their order.
func TestHeldPacketsKeepOrder(t *testing.T) {
	h, neigh, mac := holdHarness(t, HoldConfig{})
	if p := h.run(flow.Underlay, udpEgress(t, 7100, "one")); p.Verdict != VerdictHeld {
		t.Fatalf("first: %v %v", p.Verdict, p.Reason)
	}
	neigh[seedtest.NextHop] = mac
	if p := h.run(flow.Underlay, udpEgress(t, 7100, "two")); p.Verdict != VerdictHeld {
		t.Fatalf("second, after resolution but before the first left: %v %v", p.Verdict, p.Reason)
	}
	out := make([]Packet, 4)
	n, _ := h.w.Ready(out)
	if n != 2 {
		t.Fatalf("Ready = %d", n)
	}
	for i, want := range []string{"one", "two"} {
		if f := out[i].Frame(); !bytes.HasSuffix(f, []byte(want)) {
			t.Errorf("released %d ends %q, want %q", i, f[len(f)-3:], want)
		}
	}
}

// Frames whose next hop never resolves are dropped after the timeout and
// counted; their slots serve again.
func TestHeldPacketsTimeOut(t *testing.T) {
	h, _, _ := holdHarness(t, HoldConfig{Timeout: 2 * time.Second})
	for i := range 2 {
		if p := h.run(flow.Underlay, udpEgress(t, uint16(7200+i), "x")); p.Verdict != VerdictHeld {
			t.Fatalf("packet %d: %v %v", i, p.Verdict, p.Reason)
		}
	}
	out := make([]Packet, 4)
	h.now += int64(time.Second)
	if n, pending := h.w.Ready(out); n != 0 || !pending {
		t.Fatalf("before the timeout: %d %v", n, pending)
	}
	h.now += int64(time.Second)
	if n, pending := h.w.Ready(out); n != 0 || pending {
		t.Fatalf("at the timeout: %d %v", n, pending)
	}
	if d := h.pl.Stats().Drops[DropNeighTimeout]; d != 2 {
		t.Fatalf("neighbor-hold-timeout drops %d, want 2", d)
	}
	if q := h.w.hold; q.held != 0 || len(q.free) != q.cfg.Total {
		t.Fatalf("slots not freed: held %d free %d", q.held, len(q.free))
	}
}

// More released frames than the caller has room for: the rest stay held,
// in order, for the next call.
func TestReadyPartial(t *testing.T) {
	h, neigh, mac := holdHarness(t, HoldConfig{})
	for i := range 4 {
		h.run(flow.Underlay, udpEgress(t, uint16(7300+i), string(rune('a'+i))))
	}
	neigh[seedtest.NextHop] = mac
	out := make([]Packet, 3)
	n, pending := h.w.Ready(out)
	if n != 3 || !pending {
		t.Fatalf("first Ready = %d %v", n, pending)
	}
	n, pending = h.w.Ready(out)
	if n != 1 || pending || !bytes.HasSuffix(out[0].Frame(), []byte("d")) {
		t.Fatalf("second Ready = %d %v", n, pending)
	}
}

// Holding and releasing allocates nothing: the slots are preallocated.
func TestHoldZeroAllocs(t *testing.T) {
	h, neigh, mac := holdHarness(t, HoldConfig{})
	f := udpEgress(t, 7400, "x")
	h.run(flow.Underlay, f) // commit the connection first
	neigh[seedtest.NextHop] = mac
	out := make([]Packet, 4)
	h.w.Ready(out)
	buf := make([]byte, headroom+len(f)+64)
	batch := make([]Packet, 1)
	allocs := testing.AllocsPerRun(100, func() {
		delete(neigh, seedtest.NextHop)
		copy(buf[headroom:], f)
		batch[0] = Packet{Buf: buf, Off: headroom, Len: len(f), InPort: flow.Underlay}
		h.w.Process(batch)
		if batch[0].Verdict != VerdictHeld {
			t.Fatalf("%v %v", batch[0].Verdict, batch[0].Reason)
		}
		neigh[seedtest.NextHop] = mac
		if n, _ := h.w.Ready(out); n != 1 {
			t.Fatalf("Ready = %d", n)
		}
	})
	if allocs != 0 {
		t.Fatalf("hold and release allocate %v per packet", allocs)
	}
}
