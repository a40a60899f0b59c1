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
// returns how many. It only pops list heads, shard by shard, so its cost is
// proportional to the number removed (plus one look per list), not to the
// table size, and it holds one shard's lock at a time.
func (t *table[T]) Expire(now int64) int {
	n := 0
	for s := range t.shards {
		n += t.reap(uint32(s), now, -1)
	}
	return n
}

// reapChunk bounds how many connections reap removes per hold of the
// shard's lock. Each removal takes the cache misses of an erase (≈1 µs).
// reap also lets go as soon as a worker waits for the shard (lock counts
// it): holding the lock for a whole sweep (thousands of connections after
// a burst) made workers that needed the shard sleep through all of it, and
// most of two workers' lock waiting was on Expire
// (BenchmarkPipelineParallel's mutex profile).
const reapChunk = 64

// reap removes up to limit (< 0: all) expired connections of shard s, in
// chunks: it lets go of the shard's lock after reapChunk removals, or after
// one when a worker waits for it. Each chunk goes on from the list the
// last one stopped in, so that the lists' heads are looked at once per
// chunk at most: the cost stays proportional to the number removed.
func (t *table[T]) reap(s uint32, now int64, limit int) int {
	sh := &t.shards[s]
	n := 0
	for c := class(0); ; {
		var m int
		m, c = t.reapSome(sh, s, c, now, limit-n)
		n += m
		if c == numClasses || n == limit {
			return n
		}
		if testHookReapGap != nil {
			testHookReapGap(sh.mu.TryLock)
		}
		sh.yieldTo()
	}
}

// Tests only: testHookReapGap runs between two chunks of reap, with the
// shard's TryLock to prove that the lock is free there; testHookReaped
// after each removal, with the lock held.
var (
	testHookReapGap func(tryLock func() bool)
	testHookReaped  func()
)

// reapSome is one chunk of reap: it removes up to min(reapChunk, limit)
// (limit < 0: no limit) expired connections of shard s, starting at class
// list c, and returns how many and the list to go on from (numClasses:
// none is due any more).
func (t *table[T]) reapSome(sh *shard[T], s uint32, c class, now int64, limit int) (int, class) {
	if limit < 0 || limit > reapChunk {
		limit = reapChunk
	}
	sh.lock()
	defer sh.mu.Unlock()
	sh.seen(now)
	n := 0
loop:
	for ; c < numClasses; c++ {
		for n < limit {
			idx := sh.heads[c]
			if idx == nilIdx {
				continue loop
			}
			sh.scanned++
			if t.entries[idx].expires > now {
				continue loop
			}
			// removeHeld fails only if the head was removed meanwhile;
			// the loop then looks at the new head.
			if t.removeHeld(s, idx, true, now) {
				n++
				if testHookReaped != nil {
					testHookReaped()
				}
			}
			if sh.waiters.Load() != 0 {
				break loop // a worker waits: let it in (reap)
			}
		}
		break // the chunk is full: go on from c next time
	}
	sh.stats.Expired += uint64(n)
	return n, c
}
