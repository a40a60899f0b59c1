package offload

import (
	"testing"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

func TestTCPPromotedOnlyWhenEstablishedInBothZones(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.open(packet.ProtoTCP, 40000, 80, &syn)
	c.report()
	h.step()
	if !c.pending() || c.offloaded() {
		t.Fatal("a SYN must leave the connection pending")
	}
	for z := range 2 {
		if c.info(z).Mark&flow.MarkOffloadSeen == 0 {
			t.Fatalf("zone slot %d not marked seen", z)
		}
	}
	// SYN+ACK: conntrack already says ESTABLISHED (coalesced), but the
	// responder's peer is still SYN_SENT until the last ACK.
	c.send(conntrack.DirReply, 1, &synAck)
	h.clock.advance(time.Second.Nanoseconds())
	h.step()
	if got := c.info(0).TCP; got != conntrack.TCPEstablished {
		t.Fatalf("state after SYN+ACK %q", got)
	}
	if c.offloaded() {
		t.Fatal("offloaded before the handshake's last ACK")
	}
	// The ACK and data in one zone only: the other zone is not there yet.
	c.sendZones(conntrack.DirOrig, 1, &ack, 0)
	c.sendZones(conntrack.DirOrig, 1, &data, 0)
	h.clock.advance(time.Second.Nanoseconds())
	h.step()
	if c.offloaded() {
		t.Fatal("offloaded while the SNAT zone had not seen the handshake complete")
	}
	c.sendZones(conntrack.DirOrig, 1, &ack, 1)
	c.sendZones(conntrack.DirOrig, 1, &data, 1)
	h.clock.advance(time.Second.Nanoseconds())
	h.step()
	if !c.offloaded() || !h.fp.has(c.fwdKey()) || !h.fp.has(c.revKey()) {
		t.Fatal("established connection not offloaded in both directions")
	}
	if s := h.m.Stats(); s.Promoted.TCP != 1 || s.Offloaded != 1 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReverseInstalledBeforeForward(t *testing.T) {
	h := newHarness(t, defaultCfg())
	a, b := h.answeredUDP(1000), h.answeredUDP(1001)
	a.report()
	b.report()
	h.step()
	want := []string{
		"install " + keyName(a.revKey()), "install " + keyName(b.revKey()),
		"install " + keyName(a.fwdKey()), "install " + keyName(b.fwdKey()),
	}
	if got := h.fp.takeLog(); !equal(got, want) {
		t.Fatalf("install order\n got %q\nwant %q", got, want)
	}
	if h.fp.installs != 2 {
		t.Fatalf("%d InstallBatch calls for two flows, want 2 (one per direction)", h.fp.installs)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUDPAnsweredPromoted(t *testing.T) {
	h := newHarness(t, defaultCfg())
	// A single request/response is over: not worth two map entries.
	c := h.open(packet.ProtoUDP, 5353, 53, nil)
	c.send(conntrack.DirReply, 1, nil)
	c.report()
	h.step()
	if c.offloaded() {
		t.Fatal("one request and its answer were offloaded")
	}
	c.send(conntrack.DirOrig, 1, nil)
	h.clock.advance(50 * ms)
	h.step()
	if !c.offloaded() {
		t.Fatal("answered UDP flow not offloaded")
	}
	if s := h.m.Stats(); s.Promoted.UDPAnswered != 1 {
		t.Fatalf("stats %+v", s.Promoted)
	}
}

func TestUDPOnewayAfterNPackets(t *testing.T) {
	h := newHarness(t, Config{Enabled: true, UDPOnewayPackets: 8, UDPOnewayAfter: time.Hour})
	c := h.open(packet.ProtoUDP, 7000, 9, nil)
	c.send(conntrack.DirOrig, 6, nil) // 7 packets
	c.report()
	h.step()
	if c.offloaded() {
		t.Fatal("promoted before N packets")
	}
	c.send(conntrack.DirOrig, 1, nil)
	h.clock.advance(25 * ms) // the first re-evaluation is EvalInterval (20ms) later
	h.step()
	if !c.offloaded() {
		t.Fatal("one-way flow not promoted after N packets")
	}
	if s := h.m.Stats(); s.Promoted.UDPOneway != 1 || s.Promoted.UDPAnswered != 0 {
		t.Fatalf("stats %+v", s.Promoted)
	}
}

func TestUDPOnewayAfterT(t *testing.T) {
	h := newHarness(t, Config{Enabled: true, UDPOnewayAfter: 100 * time.Millisecond})
	slow := h.open(packet.ProtoUDP, 7001, 514, nil)       // a syslog-like trickle
	slow.send(conntrack.DirOrig, OnewayMinPackets-2, nil) // with the first: one short
	once := h.open(packet.ProtoUDP, 7002, 53, nil)        // a query never answered
	slow.report()
	once.report()
	h.step()
	for range 10 {
		h.clock.advance(20 * ms)
		h.step()
	}
	if slow.offloaded() || once.offloaded() {
		t.Fatal("promoted after T with fewer than OnewayMinPackets packets")
	}
	// Past T, re-evaluation has backed off towards SyncInterval (1s).
	slow.send(conntrack.DirOrig, 1, nil)
	h.clock.advance(time.Second.Nanoseconds())
	h.step()
	if !slow.offloaded() {
		t.Fatal("a still-sending one-way flow was not promoted after T")
	}
	if once.offloaded() {
		t.Fatal("a one-shot query was promoted")
	}
}

// The time rule fires on time even when the back-off would overshoot it.
func TestUDPOnewayTimeRuleNotDelayedByBackoff(t *testing.T) {
	h := newHarness(t, Config{Enabled: true, UDPOnewayAfter: 150 * time.Millisecond, SyncInterval: 10 * time.Second})
	c := h.open(packet.ProtoUDP, 7003, 9, nil)
	c.send(conntrack.DirOrig, OnewayMinPackets, nil)
	c.report()
	start := h.clock.now()
	h.step()
	for !c.offloaded() {
		h.clock.advance(ms)
		h.step()
		if h.clock.now()-start > 200*ms {
			t.Fatal("not promoted within 50ms of T")
		}
	}
}

func TestOnewayPolicyOff(t *testing.T) {
	h := newHarness(t, Config{Enabled: true, UDPOnewayOff: true})
	c := h.open(packet.ProtoUDP, 7004, 9, nil)
	c.send(conntrack.DirOrig, 1000, nil)
	c.report()
	for range 100 {
		h.step()
		h.clock.advance(20 * ms)
		c.send(conntrack.DirOrig, 10, nil)
	}
	if c.offloaded() || h.fp.len() != 0 {
		t.Fatal("one-way UDP offloaded with the one-way policy off")
	}
	// The OVS/act_ct baseline still offloads what is answered.
	c.send(conntrack.DirReply, 1, nil)
	h.clock.advance(time.Second.Nanoseconds())
	h.step()
	if !c.offloaded() {
		t.Fatal("answered flow not offloaded with the one-way policy off")
	}
}

func TestDisabledNeverOffloads(t *testing.T) {
	h := newHarness(t, Config{Enabled: false})
	c := h.answeredUDP(7005)
	tc := h.established(7006)
	c.report()
	tc.report()
	for range 10 {
		h.step()
		h.clock.advance(time.Second.Nanoseconds())
	}
	if h.fp.len() != 0 || h.pl.calls != 0 {
		t.Fatal("a disabled manager offloaded")
	}
	// It still marks, so that the pipeline stops reporting.
	if c.info(1).Mark&flow.MarkOffloadSeen == 0 {
		t.Fatal("not marked seen")
	}
	if h.m.Stats().Enabled {
		t.Fatal("stats say enabled")
	}
}

func TestICMPEchoAnswered(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.open(packet.ProtoICMP, 77, 77, &conntrack.Meta{ICMPType: 8})
	c.report()
	h.step()
	if c.offloaded() {
		t.Fatal("unanswered echo offloaded")
	}
	c.send(conntrack.DirReply, 1, &conntrack.Meta{ICMPType: 0})
	h.clock.advance(25 * ms)
	h.step()
	if !c.offloaded() {
		t.Fatal("answered echo not offloaded")
	}
	if s := h.m.Stats(); s.Promoted.ICMP != 1 {
		t.Fatalf("stats %+v", s.Promoted)
	}
}

func TestClosingTCPForgotten(t *testing.T) {
	h := newHarness(t, defaultCfg())
	c := h.open(packet.ProtoTCP, 40001, 80, &syn)
	c.report()
	h.step()
	c.send(conntrack.DirReply, 1, &rst)
	h.clock.advance(25 * ms)
	h.step()
	if c.pending() || c.offloaded() {
		t.Fatal("a reset connection is still considered")
	}
}

func TestIdlePendingLetGoAndReportedAgain(t *testing.T) {
	h := newHarness(t, Config{Enabled: true, UDPOnewayOff: true})
	c := h.open(packet.ProtoUDP, 7007, 9, nil)
	c.report()
	h.step()
	for range 10 {
		h.clock.advance(time.Second.Nanoseconds())
		h.step()
	}
	if c.pending() {
		t.Fatal("an idle connection stays pending")
	}
	if c.info(0).Mark&flow.MarkOffloadSeen != 0 {
		t.Fatal("mark not cleared: the pipeline would never report it again")
	}
	// It wakes up, is answered, and the pipeline reports it again.
	c.send(conntrack.DirReply, 2, nil)
	c.report()
	h.step()
	if !c.offloaded() {
		t.Fatal("re-reported connection not offloaded")
	}
}

func TestPlanErrorsRetriedThenGivenUp(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.pl.err = datapath.ErrPlan
	c := h.answeredUDP(7008)
	c.report()
	h.step()
	for range 20 {
		h.clock.advance(time.Second.Nanoseconds())
		c.send(conntrack.DirOrig, 1, nil)
		h.step()
	}
	if h.pl.calls != maxTries {
		t.Fatalf("%d plans, want %d", h.pl.calls, maxTries)
	}
	if c.pending() || c.offloaded() {
		t.Fatal("unplannable flow still tracked")
	}
	if s := h.m.Stats(); s.PlanErrors != maxTries {
		t.Fatalf("plan errors %d", s.PlanErrors)
	}
}
