package nat

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// shardedEIM is eimSetup with a table big enough to have several shards
// (conntrack picks one per 1024 connections) and the given UDP timeout.
func shardedEIM(t *testing.T, lo, hi uint16, udp time.Duration) (*conntrack.Table, *SNAT, *Mappings) {
	t.Helper()
	tab, err := conntrack.NewTable(conntrack.Config{Capacity: 4096,
		Timeouts: conntrack.Timeouts{UDPFirst: udp, UDPSingle: udp, UDPMultiple: udp}})
	if err != nil {
		t.Fatal(err)
	}
	maps := NewMappings(0)
	tab.SetReleaser(maps)
	s := mustSNAT(t, "10.199.0.0/16", lo, hi, snatIP)
	if err := s.SetMapping(MappingEndpointIndependent, maps); err != nil {
		t.Fatal(err)
	}
	return tab, s, maps
}

// runBounded runs f in n goroutines and fails, with every goroutine's
// stack, if they have not all returned within limit: a deadlock.
func runBounded(t *testing.T, n int, limit time.Duration, f func(g int)) {
	t.Helper()
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(g)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("workers still running after %v (deadlock?):\n%s", limit, buf)
	}
}

// Several workers commit the same connections at once through an
// endpoint-independent SNAT: all but one of each race's ChooseReply
// calls take a mapping reference for a connection another worker then
// creates. The losers must give theirs back (conntrack.Holder), or the
// mappings outlive their connections. Each round checks, after expiring
// everything, that no mapping is left; rounds go on until some races
// were lost (the test says so if none ever were). Run it with -race.
func TestEIMLostCommitRaceGivesMappingBack(t *testing.T) {
	const (
		workers = 4
		conns   = 256
		rounds  = 400
	)
	tab, s, maps := shardedEIM(t, 1024, 65535, time.Second)
	lost := uint64(0)
	deadline := time.Now().Add(10 * time.Second)
	var now int64
	for r := 0; r < rounds && (lost < 20 || r < 5) && time.Now().Before(deadline); r++ {
		now += int64(time.Minute)
		before := maps.Stats()
		created := tab.Stats().Created
		var ready atomic.Int32
		replies := make([][conns]conntrack.Tuple, workers)
		runBounded(t, workers, 30*time.Second, func(g int) {
			// Start together, so that workers meet on the same connections.
			for ready.Add(1); ready.Load() < workers; {
				runtime.Gosched()
			}
			for i := 0; i < conns; i++ {
				// Many inside endpoints (each its own mapping) and a few
				// with several connections (shared mappings).
				k := tuple(packet.IP4{10, 199, byte(r), byte(i % 64)}, uint16(5000+i%3), peer(byte(1+i/64)), 53, packet.ProtoUDP, snatZone)
				m, err := tab.Commit(k, nil, now, s)
				if err != nil {
					t.Errorf("worker %d round %d: commit %v: %v", g, r, k, err)
					return
				}
				replies[g][i] = m.Reply
			}
		})
		for g := 1; g < workers; g++ {
			if replies[g] != replies[0] {
				t.Fatalf("round %d: workers saw different replies for one connection", r)
			}
		}
		after := maps.Stats()
		took := (after.Created - before.Created) + (after.Reused - before.Reused)
		lost += took - (tab.Stats().Created - created)
		if n := tab.Expire(now + int64(time.Hour)); n != conns {
			t.Fatalf("round %d: expired %d connections, want %d", r, n, conns)
		}
		if st := maps.Stats(); st.Live != 0 {
			t.Fatalf("round %d: %d mappings outlive their connections (%d references taken for %d connections): lost races leak references",
				r, st.Live, took, tab.Stats().Created-created)
		}
	}
	if lost == 0 {
		t.Fatal("no commit race was lost: the test exercised nothing")
	}
	t.Logf("%d references taken by commits that lost their race, all given back", lost)
}

// Workers commit new connections through an endpoint-independent SNAT
// (its ChooseReply holds the mapping lock while it asks conntrack's Taken)
// while others expire them (conntrack holds shard locks while the mapping
// table's Release takes the mapping lock). Taken must never wait for a
// shard lock, or the two orders deadlock. A small port range makes
// choosers probe many ports; short timeouts make erases, which send
// probes to the locked path, constant. Run it with -race.
func TestEIMCommitAndExpireDoNotDeadlock(t *testing.T) {
	const (
		committers = 3
		iters      = 6000
	)
	tab, s, maps := shardedEIM(t, 20000, 20200, 2*time.Millisecond)
	var clock atomic.Int64
	var stop atomic.Bool
	runBounded(t, committers+2, 20*time.Second, func(g int) {
		if g >= committers {
			// Reapers: expire everything due, as the engine's timer does,
			// and delete connections outright.
			for !stop.Load() {
				now := clock.Add(int64(50 * time.Microsecond))
				tab.Expire(now)
				if g == committers+1 {
					k := tuple(packet.IP4{10, 199, byte(now), byte(now >> 8)}, 5000, peer(1), 53, packet.ProtoUDP, snatZone)
					if m, ok := tab.Lookup(k, nil, now); ok {
						tab.Delete(m.Handle)
					}
				}
			}
			return
		}
		defer func() {
			if g == 0 {
				stop.Store(true)
			}
		}()
		for i := 0; i < iters; i++ {
			now := clock.Add(int64(10 * time.Microsecond))
			// Few inside endpoints (shared mappings, released often) and
			// few destinations (mapped ports often taken toward them).
			k := tuple(packet.IP4{10, 199, byte(i >> 8), byte(i)}, uint16(5000+g), peer(byte(i%4)), 53, packet.ProtoUDP, snatZone)
			if _, err := tab.Commit(k, nil, now, s); err != nil && err != conntrack.ErrNoReply && err != conntrack.ErrFull {
				t.Errorf("commit: %v", err)
				return
			}
		}
	})
	tab.Expire(clock.Load() + int64(time.Hour))
	if st := maps.Stats(); st.Live != 0 {
		t.Errorf("%d mappings outlive their connections", st.Live)
	}
}
