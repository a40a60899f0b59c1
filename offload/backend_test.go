package offload

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/flow"
)

// withBackends replaces h's manager with one over backends.
func (h *harness) withBackends(cfg Config, backends ...Backend) {
	h.t.Helper()
	cfg.Clock = h.clock.now
	h.m.Close()
	h.m = newManager(cfg, h.ct, h.pl, backends)
	h.t.Cleanup(h.m.Close)
}

// TestBackendsInOrder: a flow goes to the first backend with room, its
// counters are read from there and its withdrawal removes it there.
func TestBackendsInOrder(t *testing.T) {
	h := newHarness(t, defaultCfg())
	first := newFakeFP(2) // room for one flow
	second := newFakeFP(16)
	first.clock, second.clock = h.clock.now, h.clock.now
	h.fp = first
	h.withBackends(defaultCfg(), first, second)

	a, b := h.promotedUDP(1000), h.promotedUDP(1001)
	if !first.has(a.fwdKey()) || !first.has(a.revKey()) || first.len() != 2 {
		t.Fatal("the first flow is not in the first backend")
	}
	if !second.has(b.fwdKey()) || !second.has(b.revKey()) || second.len() != 2 {
		t.Fatal("the flow the first backend had no room for is not in the second")
	}
	if s := h.m.Stats(); s.Offloaded != 2 || s.Full != 0 || s.KeptInSoftware != 0 {
		t.Fatalf("stats %+v", s)
	}

	before := b.info(1).Packets[0]
	now := h.clock.advance(sec)
	second.hit(b.fwdKey(), 5, 500, now)
	h.syncStep()
	if d := b.info(1).Packets[0] - before; d != 5 {
		t.Fatalf("credited %d packets from the second backend, want 5", d)
	}

	var dump bytes.Buffer
	if err := h.m.DumpFlows(&dump, DumpOptions{Type: "offloaded"}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(dump.String(), "offloaded:yes"); n != 4 {
		t.Fatalf("dump has %d offloaded lines, want 4:\n%s", n, dump.String())
	}

	h.m.Withdraw(b.cand.Conns[1].Handle)
	h.step()
	if second.len() != 0 || first.len() != 2 {
		t.Fatalf("withdrawal removed from the wrong backend: first %d, second %d entries", first.len(), second.len())
	}
}

// TestAllBackendsFull: a flow no backend has room for stays in software,
// counted as kept by a full map.
func TestAllBackendsFull(t *testing.T) {
	h := newHarness(t, defaultCfg())
	first, second := newFakeFP(0), newFakeFP(0)
	h.withBackends(defaultCfg(), first, second)
	c := h.answeredUDP(1002)
	c.report()
	h.step()
	if c.offloaded() || !c.pending() {
		t.Fatal("a flow nobody has room for left software or was forgotten")
	}
	if s := h.m.Stats(); s.Full != 1 || s.KeptInSoftware != 1 || s.InstallErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestNoBackend: with an empty list every connection stays in software,
// and the manager still marks what it is told about.
func TestNoBackend(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.withBackends(defaultCfg())
	c := h.answeredUDP(1003)
	c.report()
	h.step()
	h.syncStep()
	if c.offloaded() || c.pending() {
		t.Fatal("a flow was kept for offload with no backend")
	}
	if c.info(0).Mark&flow.MarkOffloadSeen == 0 || c.info(1).Mark&flow.MarkOffloadSeen == 0 {
		t.Fatal("connection not marked seen")
	}
	if s := h.m.Stats(); s.Enabled || s.Offloaded != 0 || s.InstallErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
	var dump bytes.Buffer
	if err := h.m.DumpFlows(&dump, DumpOptions{}); err != nil || !strings.Contains(dump.String(), "dp:software") {
		t.Fatalf("dump %v:\n%s", err, dump.String())
	}
	if a, r, err := h.m.Adopt(nil, nil); a != 0 || r != 0 || err != nil {
		t.Fatalf("adopt with no backend: %d %d %v", a, r, err)
	}
	h.m.Reset()
}
