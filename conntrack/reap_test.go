package conntrack

import (
	"testing"
	"time"
)

// An expiry that has to let go of its locks to take them in order
// (removeHeld's back-off, when a lower region's lock is busy) must look at
// the expiry again once it holds them: a packet may have refreshed the
// connection meanwhile, and it must survive. The test holds the lower
// region's lock so that the reap backs off, and refreshes the connection
// from the back-off hook, with every lock free, as a worker would.
func TestReapSparesConnectionRefreshedDuringBackoff(t *testing.T) {
	bothFamilies(t, testReapSparesConnectionRefreshedDuringBackoff[Tuple], testReapSparesConnectionRefreshedDuringBackoff[Tuple6])
}

func testReapSparesConnectionRefreshedDuringBackoff[T tupleKey](t *testing.T) {
	const timeout = 30 * time.Second
	tab := newTab[T](t, Config{Capacity: 64, shards: 4,
		Timeouts: Timeouts{UDPFirst: timeout, UDPSingle: timeout, UDPMultiple: timeout}})
	// A connection owned by a shard above one of its keys' regions.
	var k, reply T
	var owner, low uint32
	found := false
	for sport := uint16(1); sport < 2000 && !found; sport++ {
		kk := udpTupleOf[T](16, sport)
		m, err := tab.Commit(kk, nil, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		o := tab.owner(uint32(m.Handle) & (1<<tab.idxBits - 1))
		for _, x := range []T{m.Orig, m.Reply} {
			if r := tab.regionOf(&x); r < o {
				k, reply, owner, low, found = kk, m.Reply, o, r, true
			}
		}
		if !found {
			tab.Delete(m.Handle)
		}
	}
	if !found {
		t.Fatal("no connection owned above one of its regions")
	}
	exp := int64(timeout)
	refreshed := false
	testHookBackoff = func() {
		testHookBackoff = nil
		tab.shards[low].mu.Unlock()
		// A worker whose clock is a little behind the reaper's sees the
		// reply just before the expiry and refreshes the connection.
		if _, ok := tab.Lookup(reply, nil, exp-1); !ok {
			t.Error("reply missed before the expiry")
		}
		refreshed = true
	}
	defer func() { testHookBackoff = nil }()
	tab.shards[low].mu.Lock()
	n := tab.reap(owner, exp, -1)
	if !refreshed {
		tab.shards[low].mu.Unlock()
		t.Fatal("the reap never backed off: the test exercised nothing")
	}
	if n != 0 {
		t.Errorf("reap removed %d connections, want 0: the refreshed connection went", n)
	}
	if _, ok := tab.Lookup(k, nil, exp+1); !ok {
		t.Error("the connection refreshed during the reap's back-off is gone")
	}
	checkInvariants(t, tab)
}
