package conntrack

// UpdatePair tracks one packet against two connections named by handle (a
// flow's connection in each of its router's zones) under a single lock. It
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
// twice, which is the price of one lock instead of two. Callers keep that
// rare by sending the segments that change TCP state the slow way.
func (t *Table) UpdatePair(h0 Handle, d0 Dir, h1 Handle, d1 Dir, m *Meta, now int64) (r PairResult, ok bool) {
	if m == nil {
		m = &zeroMeta
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now > t.lastNow {
		t.lastNow = now
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

func (t *Table) updateHandle(h Handle, d Dir, m *Meta, now int64, r *PairResult, i int) bool {
	idx, ok := t.resolve(h)
	if !ok || d > DirReply || t.entries[idx].expires <= now {
		return false
	}
	s, ok := t.update(idx, d, m, now)
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
func (t *Table) SetLiberal(h Handle) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	idx, ok := t.resolve(h)
	if ok {
		t.entries[idx].flags |= flagLiberal
	}
	return ok
}
