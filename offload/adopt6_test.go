package offload

import (
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// fixedReply6 is a ReplyChooser6 that insists on one reply tuple.
type fixedReply6 conntrack.Tuple6

func (f fixedReply6) ChooseReply(_ conntrack.Tuple6, taken conntrack.Taken6) (conntrack.Tuple6, bool) {
	r := conntrack.Tuple6(f)
	return r, !taken.Taken(r)
}

// TestAdoptIPv6Rebuilds restarts the manager over a fast path holding a
// previous process's IPv6 entries (a NAT66 flow and a stray entry) beside
// an IPv4 flow: the IPv6 pair comes back as an offloaded IPv6 flow bound
// to its new Table6 connections (NAT66 in the SNAT zone only), credited
// from its counters since adoption and withdrawn once idle; the stray
// entry is removed.
func TestAdoptIPv6Rebuilds(t *testing.T) {
	prev := newHarness6(t, defaultCfg())
	c := prev.open6(packet.ProtoUDP, 4000, 53, nil)
	c.send(conntrack.DirReply, 1, nil)
	c.send(conntrack.DirOrig, 1, nil)
	c.report()
	v4 := prev.promotedUDP(1111)
	prev.step()
	if !c.offloaded() {
		t.Fatal("setup: IPv6 flow not offloaded")
	}
	stray := flow.Action6{Key: flow.Key6{InPort: flow.External, Src: extIP6, Dst: snatIP6, SrcPort: 1, DstPort: 2, Proto: packet.ProtoUDP}}
	if _, err := prev.fp6.InstallBatch6([]flow.Action6{stray}); err != nil {
		t.Fatal(err)
	}
	prev.fp6.hit6(c.fwdKey(), 40, 4000, prev.clock.now())
	for _, e := range prev.fp6.e6 {
		e.a.Conns = [2]flow.Conn{} // as a fast path that stores no handles
	}

	// The new process: empty tables, the same fast path.
	h := newHarness6(t, defaultCfg())
	h.fp6 = prev.fp6
	h.fp = prev.fp
	h.m.bes, h.m.bes6 = []Backend{prev.fp6}, []Backend6{prev.fp6}
	var calls []flow.Action6
	adopt6 := func(fwd flow.Action6) ([2]flow.Conn, error) {
		calls = append(calls, fwd)
		k := fwd.Key
		in := conntrack.Tuple6{Src: k.Src, Dst: k.Dst, SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto}
		out := conntrack.Tuple6{Src: fwd.NATDst, Dst: fwd.NATSrc, SrcPort: fwd.NATDstPort, DstPort: fwd.NATSrcPort, Proto: k.Proto}
		var conns [2]flow.Conn
		for i, z := range [2]uint16{zoneDNAT, zoneSNAT} {
			o, r := in, in.Reverse()
			if i == 1 {
				r = out
			}
			o.Zone, r.Zone = z, z
			mt, err := h.ct6.Commit(o, withLen(nil), h.clock.now(), fixedReply6(r))
			if err != nil {
				return conns, err
			}
			if _, ok := h.ct6.Lookup(r, withLen(nil), h.clock.now()); !ok {
				t.Fatalf("reply %v missed", r)
			}
			conns[i] = flow.Conn{Handle: mt.Handle, Dir: conntrack.DirOrig}
		}
		return conns, nil
	}
	adopt := func(fwd flow.Action) ([2]flow.Conn, error) {
		c := h.open(fwd.Key.Proto, fwd.Key.SrcPort, fwd.Key.DstPort, nil)
		c.send(conntrack.DirReply, 1, nil)
		return c.cand.Conns, nil
	}
	adopted, removed, err := h.m.Adopt(adopt, adopt6)
	if err != nil {
		t.Fatal(err)
	}
	if adopted != 2 || removed != 1 {
		t.Fatalf("adopted %d, removed %d; want 2 (one per family) and 1", adopted, removed)
	}
	if len(calls) != 1 || calls[0].Key != c.fwdKey() {
		t.Fatalf("adopt6 called with %+v, want the forward (underlay) entry only", calls)
	}
	if !h.fp6.has6(c.fwdKey()) || !h.fp6.has6(c.revKey()) || h.fp6.has6(stray.Key) || !h.fp.has(v4.fwdKey()) {
		t.Fatal("wrong entries left")
	}
	s := h.m.Stats()
	if s.Adopted != 2 || s.AdoptFailed != 1 || s.Offloaded != 2 {
		t.Fatalf("stats %+v", s)
	}
	var f *tracked
	for _, x := range h.m.offloaded {
		if x.v6 != nil {
			f = x
		}
	}
	if f == nil || f.v6.fwd.Key != c.fwdKey() || f.v6.rev.Key != c.revKey() || f.v6.key != c.fwdKey() {
		t.Fatalf("adopted IPv6 flow %+v", f)
	}
	// Table6: both zones, the NAT66 translation in the SNAT zone only.
	want := [2]conntrack.Tuple6{
		{Src: extIP6, Dst: vmIP6, SrcPort: 53, DstPort: 4000, Proto: packet.ProtoUDP, Zone: zoneDNAT},
		{Src: extIP6, Dst: snatIP6, SrcPort: 53, DstPort: 14000, Proto: packet.ProtoUDP, Zone: zoneSNAT},
	}
	for z, cn := range f.v6.fwd.Conns {
		ci, ok := h.ct6.Get(cn.Handle)
		if !ok || ci.Reply != want[z] || ci.Mark&flow.MarkOffloadSeen == 0 || ci.State&conntrack.Established == 0 {
			t.Fatalf("zone %d: %+v (live %v), want reply %v, seen, established", z, ci, ok, want[z])
		}
		if f.v6.rev.Conns[z].Handle != cn.Handle || f.v6.rev.Conns[z].Dir != cn.Dir^1 {
			t.Fatalf("reverse conns %+v", f.v6.rev.Conns)
		}
	}
	// Credited from adoption on, not before.
	before, _ := h.ct6.Get(f.v6.fwd.Conns[1].Handle)
	now := h.clock.advance(sec)
	h.fp6.hit6(c.fwdKey(), 5, 500, now)
	h.syncStep()
	after, _ := h.ct6.Get(f.v6.fwd.Conns[1].Handle)
	if d := after.Packets[0] - before.Packets[0]; d != 5 {
		t.Fatalf("credited %d packets, want 5", d)
	}
	// Idle: Table6 expires it, the sync withdraws it.
	for range 6 {
		h.ct6.Expire(h.clock.advance(10 * sec))
		h.syncStep()
	}
	if h.fp6.has6(c.fwdKey()) || h.fp6.has6(c.revKey()) {
		t.Fatal("idle adopted IPv6 flow not withdrawn")
	}
	if s := h.m.Stats(); s.Withdrawn.Expired < 1 {
		t.Fatalf("stats %+v", s)
	}
}
