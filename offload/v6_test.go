package offload

import (
	"errors"
	"fmt"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

var (
	vmIP6   = packet.MustIP6("fd00:199:100::10")
	extIP6  = packet.MustIP6("2001:db8:31::6:24")
	snatIP6 = packet.MustIP6("2001:db8:5::100")
)

// fakePlanner6 plans NAT66 as fakePlanner plans SNAT: source snatIP6,
// port + 10000.
type fakePlanner6 struct {
	calls int
	err   error
}

func (p *fakePlanner6) PlanFlow6(c flow.Candidate6) (fwd, rev flow.Action6, err error) {
	p.calls++
	if p.err != nil {
		return fwd, rev, p.err
	}
	k := c.Key
	natPort := k.SrcPort + 10000
	fwd = flow.Action6{Key: k, OutPort: flow.External, Decap: true, EthSrc: extMAC, EthDst: nhMAC, HopDec: 1,
		NATSrc: snatIP6, NATDst: k.Dst, NATSrcPort: natPort, NATDstPort: k.DstPort, Conns: c.Conns}
	rev = flow.Action6{Key: fwd.ReplyKey(flow.External, 0, packet.MAC{}), OutPort: flow.Underlay, Encap: true,
		Outer:  geneve.EncapParams{Src: vtep, Dst: chassis, SrcPort: 49152, VNI: 9, InPort: 1, OutPort: 2},
		EthSrc: rtrMAC, EthDst: vmMAC, HopDec: 1, NATSrc: k.Dst, NATDst: k.Src, NATSrcPort: k.DstPort, NATDstPort: k.SrcPort}
	for i, cn := range c.Conns {
		rev.Conns[i] = flow.Conn{Handle: cn.Handle, Dir: cn.Dir ^ 1}
	}
	return fwd, rev, nil
}

// fakeFP46 is fakeFP that also holds IPv6 flows (Backend6).
type fakeFP46 struct {
	*fakeFP
	e6 map[flow.Key6]*fakeEntry46
}

type fakeEntry46 struct {
	a flow.Action6
	c Counters
}

func keyName6(k flow.Key6) string {
	return fmt.Sprintf("%v:[%v]:%d>[%v]:%d", k.InPort, k.Src, k.SrcPort, k.Dst, k.DstPort)
}

func (f *fakeFP46) InstallBatch6(a []flow.Action6) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range a {
		if _, ok := f.e6[a[i].Key]; !ok && len(f.entries)+len(f.e6) >= f.cap {
			return i, fmt.Errorf("fake map: %w", ErrFull)
		}
		f.e6[a[i].Key] = &fakeEntry46{a: a[i]}
		f.log = append(f.log, "install6 "+keyName6(a[i].Key))
	}
	return len(a), nil
}

func (f *fakeFP46) RemoveBatch6(k []flow.Key6) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range k {
		if _, ok := f.e6[k[i]]; !ok {
			return i, errors.New("fake map: no such key")
		}
		delete(f.e6, k[i])
		f.log = append(f.log, "remove6 "+keyName6(k[i]))
	}
	return len(k), nil
}

func (f *fakeFP46) Counters6(k flow.Key6) (Counters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.e6[k]
	if !ok {
		return Counters{}, errors.New("fake map: no such key")
	}
	return e.c, nil
}

func (f *fakeFP46) Iterate6(fn func(a *flow.Action6, c Counters) bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.e6 {
		a := e.a
		if !fn(&a, e.c) {
			break
		}
	}
	return nil
}

func (f *fakeFP46) hit6(k flow.Key6, packets, bytes uint64, at int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.e6[k]
	e.c.Packets += packets
	e.c.Bytes += bytes
	e.c.LastSeen = at
}

func (f *fakeFP46) has6(k flow.Key6) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.e6[k]
	return ok
}

// harness6 is harness with an IPv6 table and a backend holding both
// families.
type harness6 struct {
	*harness
	ct6 *conntrack.Table6
	pl6 *fakePlanner6
	fp6 *fakeFP46
}

func newHarness6(t testing.TB, cfg Config) *harness6 {
	t.Helper()
	ct, err := conntrack.NewTable(conntrack.Config{Capacity: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	ct6, err := conntrack.NewTable6(conntrack.Config{Capacity: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: &fakeClock{}, ct: ct, pl: &fakePlanner{}, fp: newFakeFP(1 << 12)}
	h.clock.ns.Store(1000 * sec)
	cfg.Clock = h.clock.now
	h.fp.clock = h.clock.now
	h6 := &harness6{harness: h, ct6: ct6, pl6: &fakePlanner6{}, fp6: &fakeFP46{fakeFP: h.fp, e6: map[flow.Key6]*fakeEntry46{}}}
	h.m = newManager(cfg, ct, h.pl, []Backend{h6.fp6})
	h.m.SetIPv6(ct6, h6.pl6)
	t.Cleanup(h.m.Close)
	return h6
}

// conn6 is one IPv6 connection in both zones of the IPv6 table.
type conn6 struct {
	h    *harness6
	cand flow.Candidate6
	orig [2]conntrack.Tuple6
}

func (h *harness6) open6(proto uint8, sport, dport uint16, m *conntrack.Meta) *conn6 {
	h.t.Helper()
	c := &conn6{h: h}
	c.cand.Key = flow.Key6{InPort: flow.Underlay, VNI: 1, InnerDst: grMAC, Src: vmIP6, Dst: extIP6, SrcPort: sport, DstPort: dport, Proto: proto}
	for i, z := range []uint16{zoneDNAT, zoneSNAT} {
		tp := conntrack.Tuple6{Src: vmIP6, Dst: extIP6, SrcPort: sport, DstPort: dport, Proto: proto, Zone: z}
		mt, err := h.ct6.Commit(tp, withLen(m), h.clock.now(), nil)
		if err != nil {
			h.t.Fatal(err)
		}
		c.orig[i] = tp
		c.cand.Conns[i] = flow.Conn{Handle: mt.Handle, Dir: conntrack.DirOrig}
	}
	return c
}

func (c *conn6) send(d conntrack.Dir, n int, m *conntrack.Meta) {
	c.h.t.Helper()
	for range n {
		for _, tp := range c.orig {
			if d == conntrack.DirReply {
				tp = tp.Reverse()
			}
			mm := *withLen(m)
			if _, ok := c.h.ct6.Lookup(tp, &mm, c.h.clock.now()); !ok {
				c.h.t.Fatalf("lookup %v missed", tp)
			}
		}
	}
}

func (c *conn6) report() { c.h.m.Candidates6([]flow.Candidate6{c.cand}) }

func (c *conn6) fwdKey() flow.Key6 { return c.cand.Key }

func (c *conn6) revKey() flow.Key6 {
	k := c.cand.Key
	return flow.Key6{InPort: flow.External, Src: k.Dst, Dst: snatIP6, SrcPort: k.DstPort, DstPort: k.SrcPort + 10000, Proto: k.Proto}
}

func (c *conn6) offloaded() bool {
	c.h.m.mu.Lock()
	defer c.h.m.mu.Unlock()
	_, ok := c.h.m.offloaded[pairOf6(c.cand.Conns)]
	return ok
}

func (c *conn6) pending() bool {
	c.h.m.mu.Lock()
	defer c.h.m.mu.Unlock()
	_, ok := c.h.m.pending[pairOf6(c.cand.Conns)]
	return ok
}

func (c *conn6) info(zone int) conntrack.ConnInfo6 {
	ci, ok := c.h.ct6.Get(c.cand.Conns[zone].Handle)
	if !ok {
		c.h.t.Fatalf("IPv6 connection in zone slot %d is gone", zone)
	}
	return ci
}

// TestIPv6AnsweredUDPOffloadedCreditedExpired: an answered IPv6 UDP
// flow is promoted like an IPv4 one (both entries in the backend's IPv6
// half, reverse first), the fast path's counters keep its Table6
// connections alive while it carries traffic, and once idle it expires
// in conntrack and is withdrawn.
func TestIPv6AnsweredUDPOffloadedCreditedExpired(t *testing.T) {
	h := newHarness6(t, defaultCfg())
	c := h.open6(packet.ProtoUDP, 3000, 53, nil)
	c.send(conntrack.DirReply, 1, nil)
	c.send(conntrack.DirOrig, 1, nil)
	c.report()
	h.step()
	if !c.offloaded() || !h.fp6.has6(c.fwdKey()) || !h.fp6.has6(c.revKey()) {
		t.Fatalf("answered IPv6 UDP not offloaded (log %v)", h.fp.takeLog())
	}
	if log := h.fp.takeLog(); len(log) != 2 || log[0] != "install6 "+keyName6(c.revKey()) {
		t.Fatalf("install log %v, want the reverse entry first", log)
	}
	for z := range 2 {
		if c.info(z).Mark&flow.MarkOffloadSeen == 0 {
			t.Fatalf("zone %d not marked seen", z)
		}
	}
	if s := h.m.Stats(); s.Offloaded != 1 || s.Promoted.UDPAnswered != 1 || s.Candidates != 1 {
		t.Fatalf("stats %+v", s)
	}
	before := c.info(1).Packets
	for range 12 { // two minutes: four UDP timeouts
		now := h.clock.advance(10 * sec)
		h.fp6.hit6(c.fwdKey(), 100, 10000, now-sec)
		h.fp6.hit6(c.revKey(), 10, 1000, now-2*sec)
		h.ct6.Expire(now)
		h.syncStep()
	}
	if !c.offloaded() {
		t.Fatal("an active offloaded IPv6 flow was withdrawn")
	}
	ci := c.info(1)
	if ci.Packets[0]-before[0] != 1200 || ci.Packets[1]-before[1] != 120 || ci.LastSeen != h.clock.now()-sec {
		t.Fatalf("credited %v packets last seen %d, want 1200 and 120 at %d", [2]uint64{ci.Packets[0] - before[0], ci.Packets[1] - before[1]},
			ci.LastSeen, h.clock.now()-sec)
	}
	// Idle: conntrack expires it, the sync withdraws it.
	for range 4 {
		h.ct6.Expire(h.clock.advance(10 * sec))
		h.syncStep()
	}
	if c.offloaded() || h.fp6.has6(c.fwdKey()) || h.fp6.has6(c.revKey()) {
		t.Fatal("an idle IPv6 flow was not withdrawn after its connection expired")
	}
	if s := h.m.Stats(); s.Withdrawn.Expired != 1 || s.Offloaded != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIPv6OnewayUDPPromoted: the one-way UDP rule applies to IPv6.
func TestIPv6OnewayUDPPromoted(t *testing.T) {
	h := newHarness6(t, defaultCfg())
	c := h.open6(packet.ProtoUDP, 3001, 9, nil)
	c.send(conntrack.DirOrig, DefaultUDPOnewayPackets-2, nil)
	c.report()
	h.step()
	if c.offloaded() || !c.pending() {
		t.Fatal("one-way IPv6 flow promoted below the threshold")
	}
	c.send(conntrack.DirOrig, 2, nil)
	h.clock.advance(h.m.cfg.EvalInterval.Nanoseconds())
	h.step()
	if !c.offloaded() {
		t.Fatal("one-way IPv6 flow not promoted at the threshold")
	}
	if s := h.m.Stats(); s.Promoted.UDPOneway != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIPv6AndIPv4SameHandles: the two tables hand out the same handles;
// an IPv4 and an IPv6 connection with equal handles are two flows.
func TestIPv6AndIPv4SameHandles(t *testing.T) {
	h := newHarness6(t, defaultCfg())
	c4 := h.answeredUDP(4000)
	// Open IPv6 connections until one lands on the IPv4 one's handles
	// (the first entries of the same shard).
	var c6 *conn6
	for sport := uint16(4000); sport < 4256 && (c6 == nil || c6.cand.Conns != c4.cand.Conns); sport++ {
		c6 = h.open6(packet.ProtoUDP, sport, 53, nil)
	}
	if c6.cand.Conns != c4.cand.Conns {
		t.Fatalf("no IPv6 connection got the IPv4 one's handles %v", c4.cand.Conns)
	}
	c6.send(conntrack.DirReply, 1, nil)
	c6.send(conntrack.DirOrig, 1, nil)
	c4.report()
	c6.report()
	h.step()
	if !c4.offloaded() || !c6.offloaded() {
		t.Fatalf("offloaded: IPv4 %v IPv6 %v, want both", c4.offloaded(), c6.offloaded())
	}
	// Withdraw6 (FIN/RST) takes the IPv6 flow only.
	h.m.Withdraw6(c6.cand.Conns[0].Handle)
	h.step()
	if !c4.offloaded() || c6.offloaded() || h.fp6.has6(c6.fwdKey()) || !h.fp.has(c4.fwdKey()) {
		t.Fatalf("after Withdraw6: IPv4 %v IPv6 %v, want only IPv4", c4.offloaded(), c6.offloaded())
	}
	if s := h.m.Stats(); s.Withdrawn.FinRst != 1 || s.Offloaded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIPv6TCPEstablishedLiberal: an IPv6 TCP connection is promoted once
// established, and its Table6 entries made liberal.
func TestIPv6TCPEstablished(t *testing.T) {
	h := newHarness6(t, defaultCfg())
	c := h.open6(packet.ProtoTCP, 3002, 80, &syn)
	c.send(conntrack.DirReply, 1, &synAck)
	c.send(conntrack.DirOrig, 1, &ack)
	c.send(conntrack.DirOrig, 1, &data)
	c.report()
	h.step()
	if !c.offloaded() {
		t.Fatal("established IPv6 TCP not offloaded")
	}
	// A segment far out of window would be invalid unless liberal.
	far := conntrack.Meta{TCPFlags: 0x10, Seq: 1 << 30, Ack: 5001, Win: 65535, PayloadLen: 10}
	if _, ok := h.ct6.Lookup(c.orig[1], withLen(&far), h.clock.now()); !ok {
		t.Fatal("offloaded IPv6 TCP connection not liberal: an unseen sequence number was refused")
	}
	if s := h.m.Stats(); s.Promoted.TCP != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIPv6ResetAndAdopt: Reset withdraws IPv6 flows and clears their
// Table6 marks; Adopt removes the IPv6 entries a previous xgw left.
func TestIPv6ResetAndAdopt(t *testing.T) {
	h := newHarness6(t, defaultCfg())
	c := h.open6(packet.ProtoUDP, 3003, 53, nil)
	c.send(conntrack.DirReply, 1, nil)
	c.send(conntrack.DirOrig, 1, nil)
	c.report()
	h.step()
	if !c.offloaded() {
		t.Fatal("setup: not offloaded")
	}
	h.m.Reset()
	if c.offloaded() || h.fp6.has6(c.fwdKey()) || c.info(0).Mark&flow.MarkOffloadSeen != 0 {
		t.Fatal("Reset left the IPv6 flow or its mark")
	}
	// A previous process's entries.
	if _, err := h.fp6.InstallBatch6([]flow.Action6{{Key: c.fwdKey()}, {Key: c.revKey()}}); err != nil {
		t.Fatal(err)
	}
	_, removed, err := h.m.Adopt(func(flow.Action) ([2]flow.Conn, error) { return [2]flow.Conn{}, errors.New("unused") }, nil)
	if err != nil || removed != 2 || h.fp6.has6(c.fwdKey()) || h.fp6.has6(c.revKey()) {
		t.Fatalf("Adopt removed %d (%v), want the 2 IPv6 entries", removed, err)
	}
}

// TestIPv6WithoutBackend6: a backend without an IPv6 half never gets
// IPv6 flows; they are marked seen and stay in software.
func TestIPv6WithoutBackend6(t *testing.T) {
	h := newHarness6(t, defaultCfg())
	h.m = newManager(defaultCfg(), h.ct, h.pl, []Backend{h.fp})
	h.m.SetIPv6(h.ct6, h.pl6)
	c := h.open6(packet.ProtoUDP, 3004, 53, nil)
	c.send(conntrack.DirReply, 1, nil)
	c.send(conntrack.DirOrig, 1, nil)
	c.report()
	h.step()
	if c.offloaded() || c.pending() || h.pl6.calls != 0 || c.info(1).Mark&flow.MarkOffloadSeen == 0 {
		t.Fatalf("offloaded %v pending %v plans %d", c.offloaded(), c.pending(), h.pl6.calls)
	}
}
