package conntrack

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// shard is one lock's worth of the table, as OVS's conntrack_bucket was
// (lib/conntrack.c before 2.13: a lock, a hash map and the expiry lists
// per bucket). It owns:
//
//   - a segment of the slab, entries [base, base+size): the connections
//     allocated there, their state, counters, free list and expiry lists;
//   - a region of the index, slots [r*regionSize, (r+1)*regionSize): the
//     keys whose hash falls there, whichever shard owns their connection.
//
// A connection's two keys usually hash to regions of other shards than its
// owner. The rules that keep that consistent:
//
//   - An entry[T]'s state (counters, TCP peers, expiry, list links, class,
//     generation) is read and written under its owner's lock.
//   - Its tuples are written only when it is created, holding the owner's
//     lock and both its keys' region locks, with atomic stores before its
//     keys are indexed (freeing leaves them). Index slots are written
//     atomically under their region's lock. So probe may read slots and
//     tuples without a lock; what it finds is checked again under the
//     owner's lock, and a per-region sequence tells it when an erase moved
//     keys under it.
//   - A goroutine that blocks on a lock holds only lower-numbered ones
//     (lockSet; removeHeld tries the lower ones and backs off when busy).
type shard[T tupleKey] struct {
	// What every create and remove writes sits with the mutex in the
	// shard's first cache line, so that taking a shard last used by
	// another CPU moves as few lines as possible.
	mu                 sync.Mutex
	hiwater            uint32 // entries in [base, hiwater) were used at least once
	freeHead, freeTail uint32
	base, size         uint32 // slab segment
	live               int32  // connections owned
	keys               int32  // keys in the region
	lastNow            int64  // the latest clock this shard saw; Dump's default "now"
	// full mirrors live == size for shardWithRoom, which reads it without
	// the lock to skip full shards.
	full atomic.Bool
	// seq is odd while an erase shifts keys in the region (probe).
	seq atomic.Uint32

	heads, tails [numClasses]uint32
	stats        Stats
	scanned      uint64 // entries Expire looked at, to prove its cost in tests
	// view is the Taken (and Holder) one Commit at a time borrows for its
	// ChooseReply (claimView).
	view commitView[T]

	_ [shardPad]byte // a whole number of cache lines: shards share none
}

// shardPad rounds shard up to a multiple of 64 bytes (shard_test.go
// checks it; the shards slice is a large allocation, so page-aligned).
const shardPad = 24

// seen records the caller's clock.
func (s *shard[T]) seen(now int64) {
	if now > s.lastNow {
		s.lastNow = now
	}
}

// maxShards bounds the number of locks; minShardSize keeps each segment
// and region big enough that hashing spreads them evenly.
//
// Each shard allocates its connections sequentially from its own segment
// (hiwater, then its FIFO free list), so a stream of new connections
// writes maxShards interleaved streams of entries. Up to about 8 the CPU's
// stream prefetcher keeps up; at 64 every commit took a cache miss on its
// entry[T] and BenchmarkPipelineNewConn ran ~17% slower than with one lock.
// 8 locks are plenty for the workers of a 2- to 8-core gateway: a commit
// holds two of them for ~100 ns.
const (
	maxShards    = 8
	minShardSize = 1024
)

// shardCount picks the number of shards for a table of n connections: a
// power of two, at most maxShards, one for small tables.
func shardCount(n int) int {
	s := n / minShardSize
	if s <= 1 {
		return 1
	}
	return min(maxShards, 1<<(bits.Len(uint(s))-1))
}

// owner is the shard whose segment holds entry[T] idx: idx / segSize, by a
// multiply and a shift (setOwnerDiv) rather than a division.
func (t *table[T]) owner(idx uint32) uint32 { return uint32(uint64(idx) * t.ownerMul >> t.ownerShift) }

// setOwnerDiv sets up owner for segments of per entries: with
// s = 24 + ceil(log2 per) and m = ceil(2^s / per), floor(x*m / 2^s) is
// floor(x / per) for every x < 2^24 (MaxCapacity), and x*m < 2^50.
// owner is monotonic, so checking it on both sides of every segment
// boundary proves it for the whole slab.
func (t *table[T]) setOwnerDiv(per uint32) {
	s := 24 + uint32(bits.Len32(per-1))
	t.ownerShift = s
	t.ownerMul = (uint64(1)<<s + uint64(per) - 1) / uint64(per)
	for i := uint32(1); i <= uint32(len(t.shards)); i++ {
		if t.owner(i*per-1) != i-1 || t.owner(i*per) != i {
			panic(fmt.Sprintf("conntrack: owner division by %d wrong at %d", per, i*per))
		}
	}
}

// region returns the shard whose index region a key with hash h and
// zone-less hash hz falls in, and its home slot (absolute) there.
func (t *table[T]) region(h, hz uint64) (uint32, uint32) {
	r := uint32(hz) >> t.shardShift
	return r, r*t.regionSize + uint32((uint64(uint32(h))*uint64(t.regionSize))>>32)
}

// regionOf is the region shard of key k.
func (t *table[T]) regionOf(k *T) uint32 {
	_, r, _ := t.place(k)
	return r
}

// lockSet locks the distinct shards among a, b, c in ascending order and
// returns them (sorted, n of them) for unlockSet.
func (t *table[T]) lockSet(a, b, c uint32) (set [3]uint32, n int) {
	set = [3]uint32{a, b, c}
	if set[0] > set[1] {
		set[0], set[1] = set[1], set[0]
	}
	if set[1] > set[2] {
		set[1], set[2] = set[2], set[1]
	}
	if set[0] > set[1] {
		set[0], set[1] = set[1], set[0]
	}
	for i := 0; i < 3; i++ {
		if n > 0 && set[n-1] == set[i] {
			continue
		}
		set[n] = set[i]
		t.shards[set[n]].mu.Lock()
		n++
	}
	return set, n
}

func (t *table[T]) unlockSet(set [3]uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		t.shards[set[i]].mu.Unlock()
	}
}

// locate finds k's connection and returns it (idx, k's direction dir)
// with its owner sh locked; on a miss nothing is locked and sh is nil. The
// index is probed without a lock (probe), or under the region's lock when
// an erase got in the way.
func (t *table[T]) locate(k *T) (sh *shard[T], idx uint32, dir Dir, ok bool) {
	h, r, home := t.place(k)
	for {
		var valid bool
		idx, dir, ok, valid = t.probe(r, home, h, k)
		if !valid {
			rs := &t.shards[r]
			rs.mu.Lock()
			idx, dir, ok = t.findIn(r, home, h, k)
			if ok && t.owner(idx) == r {
				return rs, idx, dir, true
			}
			rs.mu.Unlock()
		}
		if !ok {
			return nil, 0, 0, false
		}
		// The owner's lock guards the connection's state. Since the probe
		// it may have been removed (and its slot reused): check that it is
		// still k's, else probe again.
		os := &t.shards[t.owner(idx)]
		os.mu.Lock()
		e := &t.entries[idx]
		ek := e.key(dir)
		if e.class != classFree && (is4[T]() && same4(as4(ek), as4(k)) || !is4[T]() && same6(as6(ek), as6(k))) {
			return os, idx, dir, true
		}
		os.mu.Unlock()
	}
}

// lockHandle validates h and returns its connection with its owner
// locked; ok is false (nothing locked) for a stale handle.
func (t *table[T]) lockHandle(h Handle) (sh *shard[T], idx uint32, ok bool) {
	idx = uint32(h) & (1<<t.idxBits - 1)
	if idx >= uint32(len(t.entries)) {
		return nil, 0, false
	}
	sh = &t.shards[t.owner(idx)]
	sh.mu.Lock()
	e := &t.entries[idx]
	if e.class == classFree || uint32(e.gen) != uint32(h)>>t.idxBits {
		sh.mu.Unlock()
		return nil, 0, false
	}
	return sh, idx, true
}

// removeHeld removes connection idx, whose owner o the caller holds
// locked, taking the locks of its keys' regions. A lower-numbered region
// lock that is busy means letting go of o and taking all in order; if the
// connection was removed meanwhile, or (expiring) a packet refreshed it
// past now meanwhile, removeHeld returns false. o is locked again on
// return either way (its lists may have changed meanwhile).
func (t *table[T]) removeHeld(o, idx uint32, expiring bool, now int64) bool {
	e := &t.entries[idx]
	gen, orig, reply := e.gen, e.orig, e.reply
	a, b := t.regionOf(&orig), t.regionOf(&reply)
	if a > b {
		a, b = b, a
	}
	var extra [2]uint32
	n := 0
	for _, x := range [2]uint32{a, b} {
		if x != o && (n == 0 || extra[n-1] != x) {
			extra[n] = x
			n++
		}
	}
	held := 0
	for ; held < n; held++ {
		x := extra[held]
		if x > o {
			t.shards[x].mu.Lock()
		} else if !t.shards[x].mu.TryLock() {
			break
		}
	}
	if held < n {
		for i := held - 1; i >= 0; i-- {
			t.shards[extra[i]].mu.Unlock()
		}
		t.shards[o].mu.Unlock()
		if testHookBackoff != nil {
			testHookBackoff()
		}
		t.lockSet(o, a, b)
		// The generation changes on every free; the tuples guard against
		// its wrapping around. Unlocked, the connection may also have
		// been refreshed: an expiry must not remove it then.
		if e.class == classFree || e.gen != gen || !sameTuple(&e.orig, &orig) || !sameTuple(&e.reply, &reply) ||
			(expiring && e.expires > now) {
			for i := n - 1; i >= 0; i-- {
				t.shards[extra[i]].mu.Unlock()
			}
			return false
		}
	}
	t.remove(&t.shards[o], idx)
	for i := n - 1; i >= 0; i-- {
		t.shards[extra[i]].mu.Unlock()
	}
	return true
}

// testHookBackoff, when set (tests only), runs when removeHeld has let go
// of every lock to take them again in order.
var testHookBackoff func()

// remove unlinks connection idx from the index and its list and frees it.
// The caller holds its owner sh and both its keys' regions.
func (t *table[T]) remove(sh *shard[T], idx uint32) {
	e := &t.entries[idx]
	if t.released != nil {
		t.released.Release(e.orig, e.reply, e.flags&flagHeld != 0)
	}
	t.unlink(sh, idx)
	t.erase(&e.orig)
	t.erase(&e.reply)
	t.free(sh, idx)
	if sh.live == int32(sh.size) {
		sh.full.Store(false)
	}
	sh.live--
}
