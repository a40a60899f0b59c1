package offload

import (
	"fmt"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// promoted returns an answered UDP flow, offloaded.
func (h *harness) promotedUDP(sport uint16) *conn {
	h.t.Helper()
	c := h.answeredUDP(sport)
	c.report()
	h.step()
	if !c.offloaded() {
		h.t.Fatal("setup: flow not offloaded")
	}
	return c
}

func TestCountersKeepActiveFlowsAndIdleOnesExpire(t *testing.T) {
	h := newHarness(t, defaultCfg())
	busy, idle := h.promotedUDP(2000), h.promotedUDP(2001)
	before := busy.info(1).Packets
	for range 12 { // two minutes: four UDP timeouts (30s)
		now := h.clock.advance(10 * sec)
		h.fp.hit(busy.fwdKey(), 1000, 100000, now-sec)
		h.fp.hit(busy.revKey(), 10, 1000, now-2*sec)
		h.ct.Expire(now)
		h.syncStep()
	}
	if !busy.offloaded() {
		t.Fatal("an active offloaded flow was withdrawn")
	}
	ci := busy.info(1)
	if ci.Packets[0]-before[0] != 12000 || ci.Packets[1]-before[1] != 120 {
		t.Fatalf("credited %v packets, want 12000 and 120", [2]uint64{ci.Packets[0] - before[0], ci.Packets[1] - before[1]})
	}
	if ci.LastSeen != h.clock.now()-sec {
		t.Fatalf("last seen %d, want the fast path's %d", ci.LastSeen, h.clock.now()-sec)
	}
	if ci0 := busy.info(0); ci0.Packets != ci.Packets {
		t.Fatalf("zones disagree: %v vs %v", ci0.Packets, ci.Packets)
	}
	if idle.offloaded() || h.fp.has(idle.fwdKey()) || h.fp.has(idle.revKey()) {
		t.Fatal("an idle flow was not withdrawn after its connection expired")
	}
	if _, ok := h.ct.Get(idle.cand.Conns[0].Handle); ok {
		t.Fatal("the idle connection did not expire")
	}
	if s := h.m.Stats(); s.Withdrawn.Expired != 1 || s.Offloaded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Expired but not yet reaped: withdrawn all the same.
func TestExpiredNotReapedWithdrawn(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.promotedUDP(2002)
	h.clock.advance(31 * sec)
	h.syncStep()
	if c.offloaded() {
		t.Fatal("flow of an expired connection kept")
	}
}

func TestFastPathClockConverted(t *testing.T) {
	var mono int64 = 5 * sec // a monotonic clock far from the wall clock
	h := newHarness(t, Config{Enabled: true})
	h.fp.clock = func() int64 { return mono }
	c := h.promotedUDP(2003)
	now := h.clock.advance(3 * sec)
	mono += 3 * sec
	h.fp.hit(c.fwdKey(), 5, 500, mono-250*ms)
	h.syncStep()
	if got, want := c.info(0).LastSeen, now-250*ms; got != want {
		t.Fatalf("last seen %d, want %d (250ms ago)", got, want)
	}
}

func TestFinRstWithdrawnAtSync(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.established(3000)
	c.report()
	h.step()
	if !c.offloaded() {
		t.Fatal("setup")
	}
	// XDP punts the FIN; software conntrack sees it.
	c.send(conntrack.DirOrig, 1, &fin)
	h.clock.advance(sec)
	h.syncStep()
	if c.offloaded() || h.fp.len() != 0 {
		t.Fatal("closing connection still offloaded")
	}
	if s := h.m.Stats(); s.Withdrawn.FinRst != 1 {
		t.Fatalf("stats %+v", s.Withdrawn)
	}
}

// TestFinAfterFastPathDataCloses: while XDP forwards a TCP connection,
// conntrack sees none of its sequence numbers. The FIN that XDP punts after
// a gigabyte must still be in window, or the connection never closes.
func TestFinAfterFastPathDataCloses(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.established(3002)
	c.report()
	h.step()
	if !c.offloaded() {
		t.Fatal("setup")
	}
	const forwarded = 1 << 30 // bytes the fast path carried
	h.fp.hit(c.fwdKey(), forwarded/1400, forwarded, h.clock.now())
	late := fin
	late.Seq += forwarded
	for z := range 2 {
		tp := c.orig[z]
		mm := *withLen(&late)
		if mt, ok := h.ct.Lookup(tp, &mm, h.clock.now()); !ok || mt.State&conntrack.Invalid != 0 {
			t.Fatalf("zone slot %d: the FIN after fast-path data was refused (state %v, found %v)", z, mt.State, ok)
		}
	}
	h.clock.advance(sec)
	h.syncStep()
	if c.offloaded() || h.fp.len() != 0 {
		t.Fatal("closing connection still offloaded")
	}
	if got := c.info(0).TCP; got == conntrack.TCPEstablished {
		t.Fatalf("conntrack state %q after the FIN", got)
	}
}

func TestWithdrawIsImmediate(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.established(3001)
	c.report()
	h.step()
	h.fp.hit(c.fwdKey(), 7, 700, h.clock.now())
	c.send(conntrack.DirReply, 1, &rst)
	before := c.info(1).Packets[0]
	h.m.Withdraw(c.cand.Conns[1].Handle)
	h.step() // no sync
	if c.offloaded() || h.fp.len() != 0 {
		t.Fatal("Withdraw did not withdraw")
	}
	if got := c.info(1).Packets[0] - before; got != 7 {
		t.Fatalf("final counters not credited: %d", got)
	}
	// Unknown or stale handles are ignored.
	h.m.Withdraw(c.cand.Conns[1].Handle)
	h.m.Withdraw(12345)
	h.step()
	if s := h.m.Stats(); s.Withdrawn.FinRst != 1 {
		t.Fatalf("stats %+v", s.Withdrawn)
	}
}

func TestResetWithdrawsAll(t *testing.T) {
	h := newHarness(t, defaultCfg())
	var cs []*conn
	for i := range 5 {
		cs = append(cs, h.promotedUDP(uint16(4000+i)))
	}
	p := h.open(packet.ProtoUDP, 4100, 9, nil)
	p.report()
	h.step()
	h.m.Reset()
	if h.fp.len() != 0 {
		t.Fatalf("%d entries left", h.fp.len())
	}
	if s := h.m.Stats(); s.Withdrawn.Config != 5 || s.Offloaded != 0 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
	for _, c := range append(cs, p) {
		if c.info(0).Mark&flow.MarkOffloadSeen != 0 {
			t.Fatal("mark left set: the connection would not be re-planned")
		}
	}
	// Reported again, they come back.
	cs[0].report()
	h.step()
	if !cs[0].offloaded() {
		t.Fatal("not re-offloaded after Reset")
	}
}

func TestReconfigureTurnsOnewayOff(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.open(packet.ProtoUDP, 4200, 9, nil)
	c.send(conntrack.DirOrig, 100, nil)
	c.report()
	h.step()
	if !c.offloaded() {
		t.Fatal("setup")
	}
	h.m.Reconfigure(Config{Enabled: true, UDPOnewayOff: true})
	c.report()
	h.step()
	if c.offloaded() || h.fp.len() != 0 {
		t.Fatal("one-way flow offloaded after the policy was turned off")
	}
}

func TestFullKeepsFlowsInSoftwareAndRetries(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.fp.cap = 2 // one flow
	a := h.promotedUDP(5000)
	b := h.answeredUDP(5001)
	b.report()
	h.step()
	if b.offloaded() || !b.pending() {
		t.Fatal("flow over capacity not kept pending in software")
	}
	s := h.m.Stats()
	if s.Full == 0 || s.KeptInSoftware != 1 || s.InstallErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
	// No hot retry: within the sync interval nothing is tried again.
	calls := h.fp.installs
	for range 40 {
		h.clock.advance(20 * ms)
		h.step()
	}
	if h.fp.installs != calls {
		t.Fatalf("%d install attempts while full within one sync interval", h.fp.installs-calls)
	}
	// Room appears: the retry takes it.
	h.m.Withdraw(a.cand.Conns[0].Handle)
	for range 5 {
		h.clock.advance(sec)
		b.send(conntrack.DirOrig, 1, nil)
		h.syncStep()
	}
	if !b.offloaded() {
		t.Fatal("kept flow not offloaded once there was room")
	}
	if s := h.m.Stats(); s.KeptInSoftware != 0 || s.Offloaded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestForwardFailureRollsBackReverse(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.fp.cap = 3
	a, b := h.answeredUDP(5100), h.answeredUDP(5101)
	a.report()
	b.report()
	h.step()
	want := []string{
		"install " + keyName(a.revKey()), "install " + keyName(b.revKey()),
		"install " + keyName(a.fwdKey()), "full " + keyName(b.fwdKey()),
		"remove " + keyName(b.revKey()),
	}
	if got := h.fp.takeLog(); !equal(got, want) {
		t.Fatalf("log\n got %q\nwant %q", got, want)
	}
	if !a.offloaded() || b.offloaded() || h.fp.len() != 2 {
		t.Fatal("wrong outcome")
	}
}

func TestInstallErrorSkipsOnlyThatFlow(t *testing.T) {
	h := newHarness(t, defaultCfg())
	a, b := h.answeredUDP(5200), h.answeredUDP(5201)
	h.fp.fail[a.revKey()] = fmt.Errorf("EINVAL")
	a.report()
	b.report()
	h.step()
	if a.offloaded() || !b.offloaded() {
		t.Fatal("one bad entry must not stop the batch")
	}
	if s := h.m.Stats(); s.InstallErrors != 1 || s.Full != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueOverflowCountedAndHarmless(t *testing.T) {
	h := newHarness(t, Config{Enabled: true, QueueSize: 4})
	var cs []*conn
	var cands []flow.Candidate
	for i := range 10 {
		c := h.answeredUDP(uint16(6000 + i))
		cs = append(cs, c)
		cands = append(cands, c.cand)
	}
	h.m.Candidates(cands)
	if s := h.m.Stats(); s.QueueOverflow != 6 || s.Candidates != 10 {
		t.Fatalf("stats %+v", s)
	}
	h.step()
	for i, c := range cs {
		marked := c.info(0).Mark&flow.MarkOffloadSeen != 0
		if marked != (i < 4) {
			t.Fatalf("flow %d marked=%v", i, marked)
		}
	}
	// The dropped ones are reported again by their next packets.
	h.m.Candidates(cands[4:8])
	h.step()
	h.m.Candidates(cands[8:])
	h.step()
	for i, c := range cs {
		if !c.offloaded() {
			t.Fatalf("flow %d not offloaded", i)
		}
	}
}

func TestManyFlowsSyncByIterate(t *testing.T) {
	h := newHarness(t, defaultCfg())
	var cs []*conn
	var cands []flow.Candidate
	for i := range 100 {
		c := h.answeredUDP(uint16(7000 + i))
		cs = append(cs, c)
		cands = append(cands, c.cand)
	}
	h.m.Candidates(cands)
	h.step()
	now := h.clock.advance(sec)
	for _, c := range cs {
		h.fp.hit(c.fwdKey(), 3, 300, now)
	}
	lookups := h.fp.lookups
	h.syncStep()
	if h.fp.iterates != 1 || h.fp.lookups != lookups {
		t.Fatalf("%d iterates, %d lookups: counters of 200 entries not read in one walk", h.fp.iterates, h.fp.lookups-lookups)
	}
	for _, c := range cs {
		if c.info(0).Packets[0] != 2+3 {
			t.Fatalf("packets %v", c.info(0).Packets)
		}
	}
}

// An entry that vanished from the fast path (evicted, deleted by hand) is
// withdrawn, and its connection is offered again.
func TestLostEntryReoffered(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.promotedUDP(8000)
	h.fp.RemoveBatch([]flow.Key{c.fwdKey()})
	h.syncStep()
	if c.offloaded() || h.fp.has(c.revKey()) {
		t.Fatal("half-gone flow kept")
	}
	if c.info(0).Mark&flow.MarkOffloadSeen != 0 {
		t.Fatal("mark kept: the connection would never be offloaded again")
	}
	if s := h.m.Stats(); s.Withdrawn.Error != 1 {
		t.Fatalf("stats %+v", s.Withdrawn)
	}
}

// A new connection whose keys a stale flow still holds takes them over.
func TestReplacedConnectionTakesKeysOver(t *testing.T) {
	h := newHarness(t, defaultCfg())
	old := h.promotedUDP(8100)
	for _, c := range old.cand.Conns {
		h.ct.Delete(c.Handle)
	}
	c := h.answeredUDP(8100)
	c.report()
	h.step()
	if !c.offloaded() || old.offloaded() || h.fp.len() != 2 {
		t.Fatal("new connection did not replace the stale flow")
	}
	h.fp.mu.Lock()
	got := h.fp.entries[c.fwdKey()].a.Conns
	h.fp.mu.Unlock()
	if got != c.cand.Conns {
		t.Fatal("fast path still points at the old connection")
	}
}

func TestLeavesNoGoroutine(t *testing.T) {
	before := numGoroutines()
	ct, err := conntrack.NewTable(conntrack.Config{Capacity: 1024})
	if err != nil {
		t.Fatal(err)
	}
	fp := newFakeFP(100)
	m := New(Config{Enabled: true, EvalInterval: time.Millisecond, SyncInterval: 5 * time.Millisecond}, ct, &fakePlanner{}, []Backend{fp})
	h := &harness{t: t, clock: &fakeClock{}, ct: ct, fp: fp, m: m}
	h.clock.ns.Store(time.Now().UnixNano())
	c := h.answeredUDP(9000)
	c.report()
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().Offloaded != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the goroutine did not promote the flow")
		}
		time.Sleep(time.Millisecond)
	}
	for m.Stats().Syncs == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no sync ran")
		}
		time.Sleep(time.Millisecond)
	}
	m.Close()
	m.Close() // idempotent
	for numGoroutines() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before", numGoroutines(), before)
		}
		time.Sleep(time.Millisecond)
	}
}
