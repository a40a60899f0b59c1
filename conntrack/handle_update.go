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
func (t *Table) UpdatePair(h0 Handle, d0 Dir, h1 Handle, d1 Dir, m *Meta, now int64) (s0, s1 State, ok bool) {
	if m == nil {
		m = &zeroMeta
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now > t.lastNow {
		t.lastNow = now
	}
	s0, ok = t.updateHandle(h0, d0, m, now)
	if !ok {
		return 0, 0, false
	}
	s1, ok = t.updateHandle(h1, d1, m, now)
	return s0, s1, ok
}

func (t *Table) updateHandle(h Handle, d Dir, m *Meta, now int64) (State, bool) {
	idx, ok := t.resolve(h)
	if !ok || d > DirReply || t.entries[idx].expires <= now {
		return 0, false
	}
	mt, ok := t.update(idx, d, m, now)
	if !ok || mt.State&Invalid != 0 {
		return 0, false
	}
	return mt.State, true
}
