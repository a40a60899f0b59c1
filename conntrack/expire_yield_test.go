package conntrack

import (
	"testing"
	"time"
)

// A sweep of many expired connections lets a worker that waits for the
// shard in after the removal in progress, instead of holding the lock for
// the whole sweep: with two workers, most of their lock waiting was on
// Expire (BenchmarkPipelineParallel's mutex profile). The reaper's hooks
// record, in order, each removal and each pause; the first removal waits
// (bounded) until a second goroutine blocks in lock, so the very next
// pause must follow that removal. Without the hand-over the sweep pauses
// after reapChunk removals at the earliest (or, as before chunks, never).
func TestExpireYieldsToWaitingLocker(t *testing.T) {
	const n = 5000
	ct := newTable(t, Config{Capacity: 2 * n, shards: 1, Timeouts: Timeouts{UDPFirst: time.Second}})
	for i := 0; i < n; i++ {
		if _, err := ct.Commit(udpTuple(uint16(i>>12), uint16(i)), &Meta{Len: 60}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	sh := &ct.shards[0]
	var events []string // under the shard lock or between chunks: never concurrent
	got := make(chan int, 1)
	removed := 0
	testHookReaped = func() {
		removed++
		events = append(events, "removed")
		if removed != 1 {
			return
		}
		go func() {
			sh.lock()
			got <- int(sh.stats.Expired) // only the chunks done before it counted
			sh.mu.Unlock()
		}()
		for deadline := time.Now().Add(5 * time.Second); sh.waiters.Load() == 0; {
			if time.Now().After(deadline) {
				t.Error("the second goroutine never waited for the shard")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	testHookReapGap = func(tryLock func() bool) { events = append(events, "gap") }
	defer func() { testHookReaped, testHookReapGap = nil, nil }()

	if got := ct.Expire(2 * sec); got != n {
		t.Fatalf("Expire removed %d of %d", got, n)
	}
	select {
	case before := <-got:
		if before >= n {
			t.Errorf("the waiting goroutine got the shard only after the whole sweep (%d removed)", before)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting goroutine never got the shard")
	}
	if len(events) < 2 || events[0] != "removed" || events[1] != "gap" {
		first := len(events)
		for i, e := range events {
			if e == "gap" {
				first = i
				break
			}
		}
		t.Fatalf("reap paused first after %d removals, want 1 (it had a waiter from the first)", first)
	}
	if ct.Len() != 0 {
		t.Fatalf("%d connections left", ct.Len())
	}
}
