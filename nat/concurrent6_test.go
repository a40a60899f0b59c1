package nat

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// Workers commit, look up and expire IPv6 connections through one SNAT6
// rule with a small port range on a sharded Table6: no two live
// connections ever share a reply tuple, every commit either gets a port
// or counts exhaustion, and the table's counters add up. Run it with
// -race.
func TestConcurrentSNAT6(t *testing.T) {
	ct, err := conntrack.NewTable6(conntrack.Config{Capacity: 4096,
		Timeouts: conntrack.Timeouts{UDPFirst: 20 * time.Millisecond, UDPSingle: 20 * time.Millisecond, UDPMultiple: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSNAT6(netip.MustParsePrefix("fd00::/64"), []packet.IP6{snat6}, 20000, 20255)
	if err != nil {
		t.Fatal(err)
	}
	const workers, iters = 4, 1500
	const timeout = int64(20 * time.Millisecond)
	// A shared logical clock, 10 µs a commit: connections expire during
	// the run. A worker checks its reply only while its connection cannot
	// have expired (another worker's Expire may then hand the port on).
	var clock atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused int
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			src := vm6
			src[15] = byte(w)
			m := &conntrack.Meta{Len: 60}
			for i := 0; i < iters; i++ {
				now := clock.Add(int64(10 * time.Microsecond))
				if i%32 == 0 {
					ct.Expire(now)
				}
				k := conntrack.Tuple6{Src: src, Dst: peer6, SrcPort: uint16(1000 + i), DstPort: 53, Proto: packet.ProtoUDP, Zone: snatZone}
				mt, err := ct.Commit(k, m, now, s)
				if err == conntrack.ErrNoReply {
					mu.Lock()
					refused++
					mu.Unlock()
					continue
				}
				if err != nil || mt.Reply.Dst != snat6 || mt.Reply.DstPort < 20000 || mt.Reply.DstPort > 20255 {
					t.Errorf("commit: %v %+v", err, mt)
					return
				}
				if got, ok := ct.Lookup(mt.Reply, m, now); clock.Load() < now+timeout-timeout/16 && (!ok || got.Handle != mt.Handle) {
					t.Errorf("reply %v found another connection", mt.Reply)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	seen := map[conntrack.Tuple6]bool{}
	ct.Range(func(ci conntrack.ConnInfo6) bool {
		if seen[ci.Reply] {
			t.Errorf("reply %v twice", ci.Reply)
		}
		seen[ci.Reply] = true
		return true
	})
	st := ct.Stats()
	if st.Created-st.Expired-st.Deleted != uint64(st.Entries) || int(st.NoReplyDrops) != refused || s.Exhausted() > uint64(refused) {
		t.Fatalf("counters: %+v refused %d exhausted %d", st, refused, s.Exhausted())
	}
	if st.Expired == 0 || refused == 0 {
		t.Fatalf("the run exercised no expiry or no exhaustion: %+v, refused %d", st, refused)
	}
	t.Logf("stats %+v, refused %d", st, refused)
}
