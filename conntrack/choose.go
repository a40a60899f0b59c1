package conntrack

import (
	"runtime"
	"sync/atomic"
)

// Taken reports whether t is already some connection's orig or reply tuple
// (zone included). Each call looks at the table as it is then; Commit
// checks the chosen reply again, under the locks it inserts with, and asks
// the chooser again if another worker took it meanwhile.
//
// Taken never blocks on a table lock, so a chooser may call it holding a
// lock of its own that a Releaser also takes (NAT's mapping lock): the
// lock order is table shards first, then the chooser's lock (Release runs
// under shard locks), and the chooser side never waits for a shard.
type Taken = taker[Tuple]

// Taken6 is Taken for IPv6 tuples.
type Taken6 = taker[Tuple6]

// taker is Taken for either family.
type taker[T tupleKey] interface {
	Taken(t T) bool
}

// Holder is implemented by the Taken a Table passes to ChooseReply. A
// chooser whose reply ties the new connection to a shared resource (NAT's
// endpoint-independent mappings count their connections) calls Hold; the
// connection remembers it, and the Releaser hears held = true when it
// goes, so that only connections that took the resource give it back. If
// the commit then fails (another worker committed the same connection or
// took the reply first, the table is full), the Releaser hears of the
// chosen orig/reply with held = true at once, so the reference is given
// back as well.
type Holder interface {
	Hold()
}

// commitView is the Taken and Holder a Commit passes to ChooseReply. One
// lives in every shard; a Commit borrows one (claimView) for the length of
// its ChooseReply, so that Hold has somewhere to go that is its own. A
// pointer to it fits an interface without allocating.
type commitView[T tupleKey] struct {
	t    *table[T]
	busy atomic.Uint32
	held bool
}

// claimView borrows a free commitView, trying shard a's first (Commit is
// about to lock that shard's line anyway), and clears its held mark.
// Views are free except during a ChooseReply, so with fewer concurrent
// Commits than shards the first or second one tried is free; with more,
// claimView yields until one is. It holds no lock while it waits.
func (t *table[T]) claimView(a uint32) *commitView[T] {
	n := uint32(len(t.shards))
	for i := uint32(0); ; i++ {
		v := &t.shards[(a+i)&(n-1)].view
		if v.busy.Load() == 0 && v.busy.CompareAndSwap(0, 1) {
			v.held = false
			return v
		}
		if i%n == n-1 {
			runtime.Gosched()
		}
	}
}

// release returns v and reports whether its chooser called Hold.
func (v *commitView[T]) release() bool {
	held := v.held
	v.busy.Store(0)
	return held
}

// Hold implements Holder.
func (v *commitView[T]) Hold() { v.held = true }

// takenSpins is how many lock-free probes Taken tries before it also
// tries the region's lock (without waiting for it) between yields.
const takenSpins = 4

// Taken implements Taken without ever blocking: it probes the index
// lock-free and, when an erase in the region raced the probe, probes
// again, or under the region's lock if that is free at once. An erase
// takes no other lock while it shifts keys, so a retry soon succeeds.
func (v *commitView[T]) Taken(k T) bool {
	t := v.t
	h, r, home := t.place(&k)
	for i := 0; ; i++ {
		if _, _, ok, valid := t.probe(r, home, h, &k); valid {
			return ok
		}
		if i < takenSpins {
			continue
		}
		if sh := &t.shards[r]; sh.mu.TryLock() {
			_, _, ok := t.findIn(r, home, h, &k)
			sh.mu.Unlock()
			return ok
		}
		runtime.Gosched()
	}
}
