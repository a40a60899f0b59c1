package offload

import (
	"sync"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
)

// Candidates implements flow.Sink. It copies c into the bounded
// candidate queue and returns: it never blocks on the manager (only on the
// queue's own lock, held for a copy), never allocates, and drops what does
// not fit, counting it. A dropped connection is not lost: it stays
// unmarked, so the pipeline reports it again with its next packet.
func (m *Manager) Candidates(c []flow.Candidate) {
	m.st.candidates.Add(uint64(len(c)))
	wasEmpty, dropped := m.cands.push(c)
	if dropped > 0 {
		m.st.queueOverflow.Add(uint64(dropped))
	}
	if wasEmpty {
		m.kick()
	}
}

// Candidates6 is Candidates for IPv6 connections (flow.Sink6).
func (m *Manager) Candidates6(c []flow.Candidate6) {
	m.st.candidates.Add(uint64(len(c)))
	wasEmpty, dropped := m.cands6.push(c)
	if dropped > 0 {
		m.st.queueOverflow.Add(uint64(dropped))
	}
	if wasEmpty {
		m.kick()
	}
}

// Withdraw asks for the flows of the connection h (either zone entry) to
// be withdrawn at once, without waiting for the next sync: the pipeline
// calls it when it sees FIN or RST on a connection marked
// MarkOffloadSeen. It never blocks; if its small queue is full the
// request is dropped (counted) and the next sync catches the connection
// leaving ESTABLISHED anyway.
func (m *Manager) Withdraw(h conntrack.Handle) { m.withdraw(hkey{h: h}) }

// Withdraw6 is Withdraw for an IPv6 connection (flow.Sink6).
func (m *Manager) Withdraw6(h conntrack.Handle) { m.withdraw(hkey{h: h, v6: true}) }

func (m *Manager) withdraw(k hkey) {
	if !m.notes.push(k) {
		m.st.queueOverflow.Add(1)
	}
	m.kick()
}

// kick wakes the manager goroutine if it is not already due to wake.
func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// candQueue is a bounded, mutex-protected buffer of candidates (of one
// family) the manager swaps out whole, so neither side allocates in
// steady state.
type candQueue[C any] struct {
	mu  sync.Mutex
	buf []C
}

func (q *candQueue[C]) init(n int) { q.buf = make([]C, 0, n) }

// push appends as many of c as fit; it reports whether the queue was empty
// before (the consumer needs a wake-up) and how many did not fit.
func (q *candQueue[C]) push(c []C) (wasEmpty bool, dropped int) {
	q.mu.Lock()
	wasEmpty = len(q.buf) == 0
	n := min(len(c), cap(q.buf)-len(q.buf))
	q.buf = append(q.buf, c[:n]...)
	q.mu.Unlock()
	return wasEmpty, len(c) - n
}

// swap hands the queued candidates to the consumer in exchange for spare,
// an empty buffer of the same capacity.
func (q *candQueue[C]) swap(spare []C) []C {
	q.mu.Lock()
	out := q.buf
	q.buf = spare[:0]
	q.mu.Unlock()
	return out
}

// noteQueue carries Withdraw and Withdraw6 requests.
type noteQueue struct {
	mu  sync.Mutex
	buf []hkey
}

func (q *noteQueue) init(n int) { q.buf = make([]hkey, 0, n) }

func (q *noteQueue) push(h hkey) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) == cap(q.buf) {
		return false
	}
	q.buf = append(q.buf, h)
	return true
}

func (q *noteQueue) swap(spare []hkey) []hkey {
	q.mu.Lock()
	out := q.buf
	q.buf = spare[:0]
	q.mu.Unlock()
	return out
}

// drainLocked takes the queued candidates: each new connection is marked
// seen on both zone entries and becomes pending, due for evaluation now.
// A connection already known is marked again (a Reset may have cleared the
// mark while it sat in the queue) and otherwise ignored.
func (m *Manager) drainLocked(now int64) {
	got := m.cands.swap(m.drained)
	m.drained = got[:0]
	for i := range got {
		c := &got[i]
		if f := m.admitLocked(pairOf(c.Conns), now); f != nil {
			f.cand = *c
			m.scheduleLocked(f, now)
		}
	}
	got6 := m.cands6.swap(m.drained6)
	m.drained6 = got6[:0]
	for i := range got6 {
		c := &got6[i]
		if m.ct6 == nil {
			continue // IPv6 not wired (SetIPv6): reported again
		}
		if f := m.admitLocked(pairOf6(c.Conns), now); f != nil {
			f.cand.Conns = c.Conns
			f.v6 = &flow6{key: c.Key}
			m.scheduleLocked(f, now)
		}
	}
}

// admitLocked makes the connection p pending and returns its new flow,
// or nil if it is known, gone, or not to be promoted (then only marked).
func (m *Manager) admitLocked(p pair, now int64) *tracked {
	h0, h1 := hkey{p.h[0], p.v6}, hkey{p.h[1], p.v6}
	if f := m.byHandle[h0]; f != nil {
		if f.pair() == p {
			m.markLocked(p, true)
		}
		return nil
	}
	if m.byHandle[h1] != nil || p.h[0] == p.h[1] {
		return nil
	}
	if on := m.onLocked(); !on || (p.v6 && !m.onLocked6()) {
		m.markLocked(p, true)
		return nil
	}
	if len(m.pending) >= m.cfg.MaxPending {
		m.st.pendingOverflow.Add(1)
		return nil
	}
	if !m.markLocked(p, true) {
		return nil // already gone
	}
	f := &tracked{first: now, state: statePending}
	m.pending[p] = f
	m.byHandle[h0], m.byHandle[h1] = f, f
	return f
}

// markLocked sets (or clears) MarkOffloadSeen on both zone entries of p,
// keeping the other mark bits. It reports false if either is gone.
func (m *Manager) markLocked(p pair, seen bool) bool {
	ok := true
	for _, h := range p.h {
		ci, live := m.conn(h, p.v6)
		if !live {
			ok = false
			continue
		}
		mark := ci.Mark | flow.MarkOffloadSeen
		if !seen {
			mark = ci.Mark &^ flow.MarkOffloadSeen
		}
		if mark != ci.Mark {
			m.setMark(h, p.v6, mark)
		}
	}
	return ok
}

// notesLocked serves Withdraw requests.
func (m *Manager) notesLocked(now int64) {
	m.handles = m.notes.swap(m.handles)
	for _, h := range m.handles {
		f := m.byHandle[h]
		if f == nil {
			continue
		}
		if f.state == stateOffloaded {
			m.creditLocked([]*tracked{f}, now)
			m.withdrawLocked(f, whyFinRst)
		} else {
			m.forgetLocked(f)
		}
	}
	m.handles = m.handles[:0]
}
