package conntrack

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/packet"
)

// sharedSNAT is a ReplyChooser safe for concurrent use: source NAT to addr,
// ports [first, first+n), starting at a port derived from the source port.
// Two workers drawing from one small range collide, which is the point.
type sharedSNAT struct {
	addr  packet.IP4
	first uint16
	n     uint16
}

func (s sharedSNAT) ChooseReply(orig Tuple, taken Taken) (Tuple, bool) {
	r := orig.Reverse()
	r.Dst = s.addr
	for i := uint16(0); i < s.n; i++ {
		r.DstPort = s.first + (orig.SrcPort*7+i)%s.n
		if !taken.Taken(r) {
			return r, true
		}
	}
	return Tuple{}, false
}

// stressConn is what a stress worker knows of a flow it created: its two
// connections (DNAT zone 6 without translation, SNAT zone 16) and when it
// last saw a packet of it.
type stressConn[T tupleKey] struct {
	a, b     match[T]
	lastSeen int64
	deleted  bool
}

// TestConcurrentStress runs two workers on one sharded table, each
// creating flows in both zones (the SNAT zone's ports drawn from one small
// range both share), looking them up in both directions and by handle,
// deleting some and expiring the table, while a shared clock advances.
// Every answer is checked against what the worker knows; the table's
// invariants (every key indexed once in its region, lists, counts) are
// checked while the other worker runs and at the end. Run it with -race.
func TestConcurrentStress(t *testing.T) {
	bothFamilies(t, testConcurrentStress[Tuple], testConcurrentStress[Tuple6])
}

func testConcurrentStress[T tupleKey](t *testing.T) {
	const (
		iters   = 3000
		timeout = 60 * time.Millisecond
	)
	ct := newTab[T](t, Config{Capacity: 1024, shards: 8,
		Timeouts: Timeouts{UDPFirst: timeout, UDPSingle: timeout, UDPMultiple: timeout}})
	slack := int64(timeout) / 16
	var clock atomic.Int64
	clock.Store(sec)
	snat := sharedSNAT{addr: ipSNAT, first: 1024, n: 128}
	m := &Meta{Len: 60}
	var noReply [2]int
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := packet.IP4{10, 199, 100, byte(10 + g)}
			var recent [64]stressConn[T]
			// gone reports whether a flow last seen at lastSeen may have
			// expired by now: the other worker's clock runs on meanwhile.
			gone := func(lastSeen int64) bool { return clock.Load() >= lastSeen+int64(timeout)-slack }
			for i := 0; i < iters; i++ {
				now := clock.Add(int64(time.Millisecond))
				k6 := fam[T](Tuple{Src: src, Dst: ipExt, SrcPort: uint16(i), DstPort: 80, Proto: packet.ProtoUDP, Zone: 6})
				k16 := k6
				tailOf(&k16).Zone = 16
				a, err := ct.Commit(k6, m, now, nil)
				if err != nil || a.Orig != k6 || a.Reply != rev(k6) || a.State != Tracked|New {
					t.Errorf("worker %d: zone 6 commit %v: %+v", g, err, a)
					return
				}
				b, err := ct.Commit(k16, m, now, chooser[T](snat))
				if err == ErrNoReply {
					noReply[g]++
					ct.Delete(a.Handle)
					continue
				}
				if err != nil || b.Orig != k16 || unfam(b.Reply).Dst != ipSNAT || b.State != Tracked|New|SrcNAT {
					t.Errorf("worker %d: zone 16 commit %v: %+v", g, err, b)
					return
				}
				// Replies find the same connections, established.
				for _, c := range [2]match[T]{a, b} {
					got, ok := ct.Lookup(c.Reply, m, now)
					// Once the flow may have expired, its reply tuple may
					// be another flow's.
					if !gone(now) && (!ok || got.Handle != c.Handle || got.Dir != DirReply || got.State&(Established|ReplyDir) != Established|ReplyDir) {
						t.Errorf("worker %d: reply of %v: ok=%v %+v (now %d, clock %d)", g, c.Orig, ok, got, now, clock.Load())
						return
					}
				}
				if r, ok := ct.UpdatePair(a.Handle, DirOrig, b.Handle, DirOrig, m, now); !gone(now) && (!ok || r.State[0] != Tracked|Established || r.State[1] != Tracked|Established|SrcNAT) {
					t.Errorf("worker %d: UpdatePair: ok=%v %+v", g, ok, r)
					return
				}
				// An older flow of ours: present unless deleted or past
				// its timeout (by the clock as it is after the miss).
				old := &recent[(i*13)%len(recent)]
				if old.a.Handle != 0 && !old.deleted {
					got, ok := ct.Lookup(old.b.Orig, m, now)
					switch {
					case ok && (got.Handle != old.b.Handle || got.Reply != old.b.Reply):
						t.Errorf("worker %d: old flow %v resolves to %+v, want %+v", g, old.b.Orig, got, old.b)
						return
					case ok:
						old.lastSeen = now
					case !gone(old.lastSeen):
						t.Errorf("worker %d: live flow %v lost (last seen %d, now %d)", g, old.b.Orig, old.lastSeen, clock.Load())
						return
					}
				}
				if old.a.Handle != 0 && !old.deleted && i%5 == 0 {
					ct.Delete(old.a.Handle)
					ct.Delete(old.b.Handle)
					if _, ok := ct.Lookup(old.b.Orig, m, now); ok {
						t.Errorf("worker %d: deleted flow %v still found", g, old.b.Orig)
						return
					}
					old.deleted = true
				}
				*old = stressConn[T]{a: a, b: b, lastSeen: now}
				if i%16 == 0 {
					ct.Expire(clock.Load())
				}
				if g == 0 && i%500 == 0 {
					checkInvariants(t, ct)
				}
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, ct)
	st := ct.Stats()
	if st.Created-st.Expired-st.Deleted != uint64(st.Entries) || st.Entries != ct.Len() {
		t.Fatalf("counters do not add up: %+v, len %d", st, ct.Len())
	}
	if st.Expired == 0 || st.Deleted == 0 {
		t.Fatalf("stress did not expire and delete: %+v", st)
	}
	t.Logf("stats %+v; SNAT exhausted %v", st, noReply)
	if ct.Expire(clock.Load()+int64(time.Hour)) != st.Entries || ct.Len() != 0 {
		t.Fatalf("final expiry left %d", ct.Len())
	}
	checkInvariants(t, ct)
}

// A sharded table holds exactly its capacity whatever the split: shards
// a power of two apart leave the last ones short or empty, and commits
// whose own shard is full fall back to another one.
func TestShardedTableFillsToCapacity(t *testing.T) {
	bothFamilies(t, testShardedTableFillsToCapacity[Tuple], testShardedTableFillsToCapacity[Tuple6])
}

func testShardedTableFillsToCapacity[T tupleKey](t *testing.T) {
	for _, c := range []struct{ capacity, shards int }{{3000, 2}, {2100, 4}, {4096, 8}} {
		ct := newTab[T](t, Config{Capacity: c.capacity, shards: c.shards})
		m := &Meta{Len: 60}
		for i := 0; i < c.capacity; i++ {
			if _, err := ct.Commit(udpTupleOf[T](uint16(i>>16), uint16(i)), m, 0, nil); err != nil {
				t.Fatalf("capacity %d/%d shards: commit %d: %v", c.capacity, c.shards, i, err)
			}
		}
		if _, err := ct.Commit(udpTupleOf[T](9, 9), m, 0, nil); err != ErrFull {
			t.Fatalf("capacity %d/%d shards: commit past capacity: %v", c.capacity, c.shards, err)
		}
		checkInvariants(t, ct)
		if st := ct.Stats(); st.Capacity != c.capacity || st.Entries != c.capacity || st.FullDrops != 1 {
			t.Fatalf("capacity %d/%d shards: %+v", c.capacity, c.shards, st)
		}
		if n := ct.Expire(int64(time.Hour)); n != c.capacity || ct.Len() != 0 {
			t.Fatalf("capacity %d/%d shards: expired %d, left %d", c.capacity, c.shards, n, ct.Len())
		}
		checkInvariants(t, ct)
	}
}

// A flow's connections in its router's zones (orig tuples equal but for
// the zone) are owned by one shard, so that UpdatePair takes one lock.
func TestZonesOfAFlowShareAShard(t *testing.T) {
	bothFamilies(t, testZonesOfAFlowShareAShard[Tuple], testZonesOfAFlowShareAShard[Tuple6])
}

func testZonesOfAFlowShareAShard[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 1 << 16})
	if len(ct.shards) < 2 {
		t.Fatalf("%d shards", len(ct.shards))
	}
	m := &Meta{Len: 60}
	mask := uint32(1)<<ct.idxBits - 1
	for i := 0; i < 1000; i++ {
		k := udpTupleOf[T](6, uint16(i))
		a, err := ct.Commit(k, m, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		tailOf(&k).Zone = 16
		b, err := ct.Commit(k, m, 0, chooser[T](sharedSNAT{addr: ipSNAT, first: 1024, n: 4096}))
		if err != nil {
			t.Fatal(err)
		}
		if oa, ob := ct.owner(uint32(a.Handle)&mask), ct.owner(uint32(b.Handle)&mask); oa != ob {
			t.Fatalf("flow %d: zone 6 in shard %d, zone 16 in shard %d", i, oa, ob)
		}
		if _, ok := ct.UpdatePair(a.Handle, DirOrig, b.Handle, DirOrig, m, 1); !ok {
			t.Fatalf("flow %d: UpdatePair failed", i)
		}
	}
	checkInvariants(t, ct)
}
