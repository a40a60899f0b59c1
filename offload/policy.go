package offload

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

type flowState uint8

const (
	statePending flowState = iota
	stateOffloaded
	stateGone // forgotten or withdrawn; stale schedule entries skip it
)

// why is a promotion or withdrawal reason, an index into the counters.
type why uint8

const (
	whyTCP why = iota
	whyUDPAnswered
	whyUDPOneway
	whyICMP
	numPromote
)

const (
	whyFinRst  why = iota // the connection left ESTABLISHED (FIN/RST punted to software)
	whyExpired            // the connection expired or was deleted in conntrack
	whyConfig             // Reset / Reconfigure
	whyError              // the fast-path entry vanished or could not be read
	numWithdraw
)

// maxTries bounds plan and install attempts that fail for reasons other
// than a full map: a flow that cannot be planned three times (its route or
// neighbour keeps failing) stays in software for good.
const maxTries = 3

// flow is one connection (both zones, both directions) the manager knows.
type tracked struct {
	// cand is the candidate (IPv4), or its Conns (IPv6, whose key and
	// actions are in v6).
	cand     flow.Candidate
	v6       *flow6 // nil for an IPv4 connection
	first    int64  // when the manager first saw it (conntrack clock)
	state    flowState
	gen      uint32 // bumped on every (re)schedule and removal
	interval int64  // current evaluation back-off
	tries    uint8  // failed plans/installs (not counting a full map)
	fullRuns uint8  // consecutive full-map refusals, for the back-off
	full     bool   // kept in software because the fast path is full
	reason   why    // promotion reason, once offloaded

	fwd, rev flow.Action // IPv4 only
	be       int         // the backend holding both directions, once offloaded
	seen     [2]Counters // its counters already credited: fwd, rev
}

// verdict is what the policy says about a pending connection.
type verdict uint8

const (
	wait    verdict = iota // not yet
	promote                // offload it now (reason in the second result)
	forget                 // never: gone, closing or not offloadable
)

// decide applies the policy to a pending connection's two zone entries.
func (m *Manager) decide(f *tracked, now int64) (verdict, why) {
	var ci [2]connView
	for i, c := range f.cand.Conns {
		var ok bool
		if ci[i], ok = m.conn(c.Handle, f.v6 != nil); !ok {
			return forget, 0
		}
	}
	answered := ci[0].State&ci[1].State&conntrack.Established != 0
	switch ci[0].Proto {
	case packet.ProtoTCP:
		// ESTABLISHED is conntrack's coalesced state, which it already
		// shows once the SYN+ACK is through, before the last handshake ACK
		// has moved the responder out of SYN_SENT; an entry offloaded then
		// would be stuck in the short SYN_RECV timeout. Requiring a second
		// packet from the initiator and a fourth in all waits for that ACK
		// (or for proof it was sent, under retransmissions).
		est := ci[0].TCP == conntrack.TCPEstablished && ci[1].TCP == conntrack.TCPEstablished
		if est && answered && minPackets(&ci, conntrack.DirOrig) >= 2 && minTotal(&ci) >= 4 {
			return promote, whyTCP
		}
		if tcpClosing(ci[0].TCP) || tcpClosing(ci[1].TCP) {
			return forget, 0
		}
	case packet.ProtoUDP:
		if answered {
			if minTotal(&ci) >= AnsweredMinPackets {
				return promote, whyUDPAnswered
			}
			break
		}
		if m.cfg.UDPOnewayOff {
			break
		}
		// Unanswered: the only traffic is in the direction that created
		// it (orig) in both zones.
		n := minPackets(&ci, conntrack.DirOrig)
		if m.cfg.UDPOnewayPackets > 0 && n >= uint64(m.cfg.UDPOnewayPackets) {
			return promote, whyUDPOneway
		}
		if m.cfg.UDPOnewayAfter > 0 && now-f.first >= int64(m.cfg.UDPOnewayAfter) && n >= OnewayMinPackets {
			return promote, whyUDPOneway
		}
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if ci[0].ICMPType != echoRequest(ci[0].Proto) {
			return forget, 0
		}
		if answered {
			return promote, whyICMP
		}
	default:
		return forget, 0
	}
	// Idle pending connections are let go, with their mark cleared so that
	// the pipeline reports them again if they wake up: the pending set stays
	// the set of active connections, not of every one-shot flow until its
	// conntrack timeout.
	if now-max(ci[0].LastSeen, ci[1].LastSeen) > m.idleAfter() {
		m.markLocked(f.pair(), false)
		return forget, 0
	}
	return wait, 0
}

// idleAfter is how long a pending connection may stay silent.
func (m *Manager) idleAfter() int64 { return 4 * int64(m.cfg.SyncInterval) }

func minPackets(ci *[2]connView, d conntrack.Dir) uint64 {
	return min(ci[0].Packets[d], ci[1].Packets[d])
}

func minTotal(ci *[2]connView) uint64 {
	return min(ci[0].Packets[0]+ci[0].Packets[1], ci[1].Packets[0]+ci[1].Packets[1])
}

// tcpClosing tells the coalesced states past ESTABLISHED, from which a
// connection never comes back to it.
func tcpClosing(s conntrack.TCPState) bool {
	return s == conntrack.TCPClosed || s > conntrack.TCPEstablished
}

// evalLocked evaluates every pending connection that is due, and promotes
// the eligible ones in one batch.
func (m *Manager) evalLocked(now int64) {
	due := m.due[:0]
	for {
		f, ok := m.sched.popDue(now)
		if !ok {
			break
		}
		if !m.onLocked() {
			m.forgetLocked(f)
			continue
		}
		switch v, r := m.decide(f, now); v {
		case promote:
			f.reason = r
			due = append(due, f)
		case forget:
			m.forgetLocked(f)
		default:
			m.backoffLocked(f, now)
		}
	}
	m.promoteLocked(due, now)
	clear(due)
	m.due = due[:0]
}

// scheduleLocked makes f due at now (first evaluation).
func (m *Manager) scheduleLocked(f *tracked, at int64) {
	f.gen++
	m.sched.push(schedEntry{at: at, f: f, gen: f.gen})
}

// backoffLocked re-evaluates f later: EvalInterval, doubling up to
// SyncInterval, but never later than the moment the one-way time rule
// could make it eligible.
func (m *Manager) backoffLocked(f *tracked, now int64) {
	if f.interval == 0 {
		f.interval = int64(m.cfg.EvalInterval)
	} else {
		f.interval = min(2*f.interval, int64(m.cfg.SyncInterval))
	}
	at := now + f.interval
	if t := f.first + int64(m.cfg.UDPOnewayAfter); f.proto() == packet.ProtoUDP && t > now && t < at {
		at = t
	}
	m.scheduleLocked(f, at)
}

// forgetLocked drops a pending flow. Its mark stays set (unless the
// caller cleared it), so the pipeline will not report it again.
func (m *Manager) forgetLocked(f *tracked) {
	if f.state != statePending {
		return
	}
	m.unregisterLocked(f)
	delete(m.pending, f.pair())
}

// unregisterLocked removes f from the indexes and invalidates its
// schedule entries.
func (m *Manager) unregisterLocked(f *tracked) {
	for _, c := range f.cand.Conns {
		if k := (hkey{c.Handle, f.v6 != nil}); m.byHandle[k] == f {
			delete(m.byHandle, k)
		}
	}
	if f.full {
		f.full = false
		m.fullKept--
	}
	f.state = stateGone
	f.gen++
}

// schedEntry is one evaluation due at at; stale if f.gen moved on.
type schedEntry struct {
	at  int64
	f   *tracked
	gen uint32
}

// schedule is a binary min-heap on at, written out rather than through
// container/heap so that pushing does not box entries.
type schedule struct{ h []schedEntry }

func (s *schedule) push(e schedEntry) {
	s.h = append(s.h, e)
	i := len(s.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s.h[p].at <= s.h[i].at {
			break
		}
		s.h[p], s.h[i] = s.h[i], s.h[p]
		i = p
	}
}

func (s *schedule) pop() schedEntry {
	top := s.h[0]
	n := len(s.h) - 1
	s.h[0] = s.h[n]
	s.h[n] = schedEntry{}
	s.h = s.h[:n]
	for i := 0; ; {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && s.h[l].at < s.h[small].at {
			small = l
		}
		if r < n && s.h[r].at < s.h[small].at {
			small = r
		}
		if small == i {
			break
		}
		s.h[i], s.h[small] = s.h[small], s.h[i]
		i = small
	}
	return top
}

// popDue returns the next live flow due at or before now.
func (s *schedule) popDue(now int64) (*tracked, bool) {
	for len(s.h) > 0 && s.h[0].at <= now {
		e := s.pop()
		if e.gen == e.f.gen && e.f.state == statePending {
			return e.f, true
		}
	}
	return nil, false
}
