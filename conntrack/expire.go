package conntrack

// class is a connection's timeout class. Each class has one timeout and one
// FIFO list ordered by expiry, as OVS userspace keeps exp_lists[ct_timeout].
type class uint8

const (
	clsTCPSynSent class = iota
	clsTCPSynRecv
	clsTCPEstablished
	clsTCPFinWait
	clsTCPTimeWait
	clsTCPClose
	clsUDPFirst
	clsUDPSingle
	clsUDPMultiple
	clsICMPFirst
	clsICMPReply
	numClasses

	classFree class = 0xff
)

// reapOnFull bounds how many expired connections a Commit into a full table
// reaps before giving up, so that one packet never pays for a big sweep.
const reapOnFull = 64

// link appends idx to the tail of class c's list.
func (t *table[T]) link(sh *shard[T], idx uint32, c class) {
	e := &t.entries[idx]
	e.class = c
	e.next = nilIdx
	e.prev = sh.tails[c]
	if sh.tails[c] == nilIdx {
		sh.heads[c] = idx
	} else {
		t.entries[sh.tails[c]].next = idx
	}
	sh.tails[c] = idx
}

// unlink removes idx from its class list.
func (t *table[T]) unlink(sh *shard[T], idx uint32) {
	e := &t.entries[idx]
	c := e.class
	if e.prev == nilIdx {
		sh.heads[c] = e.next
	} else {
		t.entries[e.prev].next = e.next
	}
	if e.next == nilIdx {
		sh.tails[c] = e.prev
	} else {
		t.entries[e.next].prev = e.prev
	}
	e.prev, e.next = nilIdx, nilIdx
}

// refresh sets idx's expiry to now plus the timeout of class c and moves it
// to the tail of c's list. An older now (another worker's clock, a late
// Touch) never pulls the expiry of an unchanged class back.
//
// Within a class, the expiry only moves once it would gain at least the
// class's slack (1/16 of the timeout, at most a second): moving touches the
// neighbours in the list, three random cache lines per packet otherwise.
// So an idle connection expires up to that slack before its full timeout.
func (t *table[T]) refresh(sh *shard[T], idx uint32, c class, now int64) {
	e := &t.entries[idx]
	exp := now + t.timeout[c]
	if c == e.class {
		if exp-e.expires < t.slack[c] {
			return
		}
		e.expires = exp
		if sh.tails[c] == idx {
			return
		}
	} else {
		e.expires = exp
	}
	t.unlink(sh, idx)
	t.link(sh, idx, c)
}

// Expire removes every connection whose expiry is at or before now and
// returns how many. It only pops list heads, so its cost is proportional
// to the number removed (plus one look per list), not to the table size.
//
// It sweeps the shards in rounds, removing at most expireChunk from each
// per round under one hold of its lock: a worker that needs a shard waits
// for one chunk at most, and gets it while Expire works on the others.
// Sweeping a whole shard under its lock (~500 connections, ~1 ms, after a
// burst of new connections) made two workers wait for it on most of their
// packets: it was 88 % of their mutex delay in BenchmarkPipelineParallel/new,
// and without expiry they did not block at all.
func (t *table[T]) Expire(now int64) int {
	n := 0
	for base := 0; base < len(t.shards); base += expireGroup {
		n += t.sweepGroup(base, min(len(t.shards), base+expireGroup), now)
	}
	return n
}

// expireGroup bounds the shards Expire sweeps together (the tables' own
// have at most maxShards; tests may ask for more).
const expireGroup = 64

// sweepGroup is Expire over shards [lo, hi), in rounds.
func (t *table[T]) sweepGroup(lo, hi int, now int64) int {
	n := 0
	var next [expireGroup]class // the list each shard goes on from
	for busy := true; busy; {
		busy = false
		for s := lo; s < hi; s++ {
			if next[s-lo] == numClasses {
				continue
			}
			m, c := t.reapFrom(uint32(s), next[s-lo], now, expireChunk)
			n += m
			next[s-lo] = c
			if testHookExpireChunk != nil {
				testHookExpireChunk(s, m)
			}
			busy = busy || c != numClasses
		}
	}
	return n
}

// expireChunk bounds the connections Expire removes per hold of a shard's
// lock: each removal costs an erase's cache misses (≈1-2 µs).
const expireChunk = 8

// testHookExpireChunk, when set (tests only), hears of each chunk Expire
// did: its shard and how many it removed.
var testHookExpireChunk func(shard, removed int)

// reap removes up to limit (< 0: all) expired connections of shard s under
// one hold of its lock.
func (t *table[T]) reap(s uint32, now int64, limit int) int {
	n, _ := t.reapFrom(s, 0, now, limit)
	return n
}

// reapFrom removes up to limit (< 0: all) expired connections of shard s,
// looking at its class lists from c on, and returns how many and the list
// to go on from: numClasses when none is due any more. It stops before
// looking at a head once limit is reached, so going on from there looks at
// no head twice.
func (t *table[T]) reapFrom(s uint32, c class, now int64, limit int) (int, class) {
	sh := &t.shards[s]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.seen(now)
	n := 0
	defer func() { sh.stats.Expired += uint64(n) }()
	for ; c < numClasses; c++ {
		for {
			if n == limit {
				return n, c
			}
			idx := sh.heads[c]
			if idx == nilIdx {
				break
			}
			sh.scanned++
			if t.entries[idx].expires > now {
				break
			}
			// removeHeld fails only if the head was removed meanwhile;
			// the loop then looks at the new head.
			if t.removeHeld(s, idx, true, now) {
				n++
			}
		}
	}
	return n, numClasses
}
