package offload

import (
	"errors"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// TestAdoptRebuilds restarts the manager over a fast path that still holds
// a previous process's entries: paired entries come back as offloaded flows
// bound to new connections, the rest is removed.
func TestAdoptRebuilds(t *testing.T) {
	// The previous process: two flows offloaded, plus a stray entry.
	prev := newHarness(t, defaultCfg())
	keep, refuse := prev.promotedUDP(1111), prev.promotedUDP(2222)
	stray := flow.Action{Key: flow.Key{InPort: flow.External, Src: extIP, Dst: snatIP, SrcPort: 1, DstPort: 2, Proto: packet.ProtoUDP}}
	prev.fp.InstallBatch([]flow.Action{stray})
	prev.fp.hit(keep.fwdKey(), 40, 4000, prev.clock.now())
	// Pretend the fast path did not store handles.
	for _, e := range prev.fp.entries {
		e.a.Conns = [2]flow.Conn{}
	}

	// The new process: empty conntrack, same fast path.
	h := newHarness(t, defaultCfg())
	h.fp = prev.fp
	h.m.bes = []Backend{prev.fp}
	var got []flow.Action
	adopt := func(fwd flow.Action) ([2]flow.Conn, error) {
		got = append(got, fwd)
		if fwd.Key.SrcPort == 2222 {
			return [2]flow.Conn{}, errors.New("no such NAT rule any more")
		}
		c := h.open(fwd.Key.Proto, fwd.Key.SrcPort, fwd.Key.DstPort, nil)
		c.send(conntrack.DirReply, 1, nil)
		return c.cand.Conns, nil
	}
	adopted, removed, err := h.m.Adopt(adopt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if adopted != 1 || removed != 3 {
		t.Fatalf("adopted %d, removed %d; want 1 and 3", adopted, removed)
	}
	for _, a := range got {
		if a.Key.InPort != flow.Underlay {
			t.Fatalf("adopt called with the reverse direction %v", a.Key)
		}
	}
	if !h.fp.has(keep.fwdKey()) || !h.fp.has(keep.revKey()) || h.fp.has(refuse.fwdKey()) || h.fp.has(stray.Key) || h.fp.len() != 2 {
		t.Fatal("wrong entries left")
	}
	s := h.m.Stats()
	if s.Adopted != 1 || s.AdoptFailed != 3 || s.Offloaded != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The adopted flow is bound: counters since adoption (not before) are
	// credited to the new connections, and it is withdrawn like any other.
	var f *tracked
	for _, x := range h.m.offloaded {
		f = x
	}
	for _, c := range f.fwd.Conns {
		ci, _ := h.ct.Get(c.Handle)
		if ci.Mark&flow.MarkOffloadSeen == 0 {
			t.Fatal("adopted connection not marked seen")
		}
	}
	before, _ := h.ct.Get(f.fwd.Conns[0].Handle)
	now := h.clock.advance(sec)
	h.fp.hit(keep.fwdKey(), 5, 500, now)
	h.syncStep()
	after, _ := h.ct.Get(f.fwd.Conns[0].Handle)
	if d := after.Packets[0] - before.Packets[0]; d != 5 {
		t.Fatalf("credited %d packets, want 5", d)
	}
	h.m.Withdraw(f.fwd.Conns[1].Handle)
	h.step()
	if h.fp.len() != 0 {
		t.Fatal("adopted flow could not be withdrawn")
	}
}
