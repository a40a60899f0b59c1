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

// Withdraw asks for the flows of the connection h (either zone entry) to
// be withdrawn at once, without waiting for the next sync: the pipeline
// calls it when it sees FIN or RST on a connection marked
// MarkOffloadSeen. It never blocks; if its small queue is full the
// request is dropped (counted) and the next sync catches the connection
// leaving ESTABLISHED anyway.
func (m *Manager) Withdraw(h conntrack.Handle) {
	if !m.notes.push(h) {
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

// candQueue is a bounded, mutex-protected buffer the manager swaps out
// whole, so neither side allocates in steady state.
type candQueue struct {
	mu  sync.Mutex
	buf []flow.Candidate
}

func (q *candQueue) init(n int) { q.buf = make([]flow.Candidate, 0, n) }

// push appends as many of c as fit; it reports whether the queue was empty
// before (the consumer needs a wake-up) and how many did not fit.
func (q *candQueue) push(c []flow.Candidate) (wasEmpty bool, dropped int) {
	q.mu.Lock()
	wasEmpty = len(q.buf) == 0
	n := min(len(c), cap(q.buf)-len(q.buf))
	q.buf = append(q.buf, c[:n]...)
	q.mu.Unlock()
	return wasEmpty, len(c) - n
}

// swap hands the queued candidates to the consumer in exchange for spare,
// an empty buffer of the same capacity.
func (q *candQueue) swap(spare []flow.Candidate) []flow.Candidate {
	q.mu.Lock()
	out := q.buf
	q.buf = spare[:0]
	q.mu.Unlock()
	return out
}

// noteQueue carries Withdraw requests.
type noteQueue struct {
	mu  sync.Mutex
	buf []conntrack.Handle
}

func (q *noteQueue) init(n int) { q.buf = make([]conntrack.Handle, 0, n) }

func (q *noteQueue) push(h conntrack.Handle) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) == cap(q.buf) {
		return false
	}
	q.buf = append(q.buf, h)
	return true
}

func (q *noteQueue) swap(spare []conntrack.Handle) []conntrack.Handle {
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
		p := pairOf(c.Conns)
		if f := m.byHandle[p[0]]; f != nil {
			if pairOf(f.cand.Conns) == p {
				m.markLocked(p, true)
			}
			continue
		}
		if m.byHandle[p[1]] != nil || p[0] == p[1] {
			continue
		}
		if !m.onLocked() {
			m.markLocked(p, true)
			continue
		}
		if len(m.pending) >= m.cfg.MaxPending {
			m.st.pendingOverflow.Add(1)
			continue
		}
		if !m.markLocked(p, true) {
			continue // already gone
		}
		f := &tracked{cand: *c, first: now, state: statePending}
		m.pending[p] = f
		m.byHandle[p[0]], m.byHandle[p[1]] = f, f
		m.scheduleLocked(f, now)
	}
}

// markLocked sets (or clears) MarkOffloadSeen on both zone entries of p,
// keeping the other mark bits. It reports false if either is gone.
func (m *Manager) markLocked(p pair, seen bool) bool {
	ok := true
	for _, h := range p {
		ci, live := m.ct.Get(h)
		if !live {
			ok = false
			continue
		}
		mark := ci.Mark | flow.MarkOffloadSeen
		if !seen {
			mark = ci.Mark &^ flow.MarkOffloadSeen
		}
		if mark != ci.Mark {
			m.ct.SetMark(h, mark)
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
