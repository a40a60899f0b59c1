package conntrack

import (
	"testing"
	"time"

	"github.com/xgw-dev/xgw/packet"
)

// TestRefreshSlack: a busy connection's expiry moves in steps of at most
// the slack, and an idle one expires no earlier than timeout - slack.
func TestRefreshSlack(t *testing.T) {
	ct, _ := NewTable(Config{Capacity: 8})
	k := Tuple{Src: packet.MustIP4("10.0.0.1"), Dst: packet.MustIP4("10.0.0.2"), SrcPort: 1, DstPort: 2, Proto: 17, Zone: 1}
	m := &Meta{Len: 60}
	start := int64(time.Hour)
	c, _ := ct.Commit(k, m, start, nil)
	first, _ := ct.Get(c.Handle)
	// Packets every 100 ms for 10 s: the connection never gets closer to
	// expiring than its timeout minus the slack.
	timeout := first.Expires - start
	slack := min(timeout/16, int64(time.Second))
	now := start
	for i := 0; i < 100; i++ {
		now += int64(100 * time.Millisecond)
		ct.Lookup(k, m, now)
		ci, _ := ct.Get(c.Handle)
		if left := ci.Expires - now; left < timeout-slack || left > timeout {
			t.Fatalf("at +%v: %v left, want within [%v, %v]", time.Duration(now-start), time.Duration(left), time.Duration(timeout-slack), time.Duration(timeout))
		}
	}
	last := now
	if n := ct.Expire(last + timeout - slack - 1); n != 0 {
		t.Fatalf("expired %d before timeout - slack", n)
	}
	if n := ct.Expire(last + timeout); n != 1 {
		t.Fatalf("expired %d at the full timeout, want 1", n)
	}
}
