package conntrack

// UpdatePair tracks one packet against two connections named by handle (a
// flow's connection in each of its router's zones) under their owner
// shard's lock (one lock when they share a shard, as a flow's do). It
// runs exactly the state machine Lookup runs on a hit, so a caller that
// cached the handles sees the same ct_state, counters and expiry as one
// that looked the tuples up; it only skips hashing and probing.
//
// ok is false, with nothing changed for the connection that failed, when a
// handle is stale (the connection expired or was replaced), when the
// packet is invalid for it (TCP window), when it would reopen a closed TCP
// connection, or when a connection has expired but was not reaped yet: the
// caller then runs the packet through Lookup, which handles all of those.
// The first connection may have been updated when the second fails; the
// caller's retry through Lookup then counts the packet in the first zone
// twice, which is the price of not holding both locks at once. Callers keep that
// rare by sending the segments that change TCP state the slow way.
func (t *table[T]) UpdatePair(h0 Handle, d0 Dir, h1 Handle, d1 Dir, m *Meta, now int64) (r PairResult, ok bool) {
	if m == nil {
		m = &zeroMeta
	}
	mask := uint32(1)<<t.idxBits - 1
	if o := t.owner(uint32(h0) & mask); o == t.owner(uint32(h1)&mask) && uint32(h0)&mask < uint32(len(t.entries)) {
		// The usual case: a flow's two connections share their orig
		// tuples' shard (zhash), so one lock covers both.
		sh := &t.shards[o]
		sh.mu.Lock()
		defer sh.mu.Unlock()
		sh.seen(now)
		if !t.updateHeld(sh, h0, d0, m, now, &r, 0) {
			return r, false
		}
		return r, t.updateHeld(sh, h1, d1, m, now, &r, 1)
	}
	if !t.updateHandle(h0, d0, m, now, &r, 0) {
		return r, false
	}
	return r, t.updateHandle(h1, d1, m, now, &r, 1)
}

// PairResult is what UpdatePair reports of each connection: the packet's
// ct_state and the connection's mark.
type PairResult struct {
	State [2]State
	Mark  [2]uint32
}

// updateHandle tracks the packet against h under its owner's lock.
func (t *table[T]) updateHandle(h Handle, d Dir, m *Meta, now int64, r *PairResult, i int) bool {
	if d > DirReply {
		return false
	}
	sh, idx, ok := t.lockHandle(h)
	if !ok {
		return false
	}
	defer sh.mu.Unlock()
	sh.seen(now)
	return t.updateIdx(sh, idx, d, m, now, r, i)
}

// updateHeld is updateHandle for a caller that holds h's owner sh.
func (t *table[T]) updateHeld(sh *shard[T], h Handle, d Dir, m *Meta, now int64, r *PairResult, i int) bool {
	idx := uint32(h) & (1<<t.idxBits - 1)
	if d > DirReply || idx >= uint32(len(t.entries)) {
		return false
	}
	if e := &t.entries[idx]; e.class == classFree || uint32(e.gen) != uint32(h)>>t.idxBits {
		return false
	}
	return t.updateIdx(sh, idx, d, m, now, r, i)
}

func (t *table[T]) updateIdx(sh *shard[T], idx uint32, d Dir, m *Meta, now int64, r *PairResult, i int) bool {
	if t.entries[idx].expires <= now {
		return false
	}
	s, ok := t.update(sh, idx, d, m, now)
	if !ok || s&Invalid != 0 {
		return false
	}
	r.State[i], r.Mark[i] = s, t.entries[idx].mark
	return true
}

// SetLiberal makes h skip TCP window checks for the rest of its life, as
// Config.TCPLiberal does for every connection. A connection rebuilt without
// its sequence numbers (adopted from the fast path after a restart) needs
// it: its first real segments would otherwise look out of window, FIN and
// RST included, and be dropped.
func (t *table[T]) SetLiberal(h Handle) bool {
	sh, idx, ok := t.lockHandle(h)
	if ok {
		t.entries[idx].flags |= flagLiberal
		sh.mu.Unlock()
	}
	return ok
}
