package offload

import (
	"errors"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// errShort stands for a Backend that reported fewer entries done than
// given, without an error.
var errShort = errors.New("offload: backend batch stopped short")

// errNoBackend is the outcome of a flow no backend was asked to take.
var errNoBackend = errors.New("offload: no backend")

// promoteLocked plans and installs the flows the policy chose. Every
// reverse entry is installed before any forward entry: a reply can only
// exist once the forward direction forwarded something, so installing
// reverse first means no reply ever misses the fast path and gets NATed
// by software while its request went through XDP (harmless but slow). A
// flow whose forward entry fails has its reverse entry rolled back.
func (m *Manager) promoteLocked(fs []*tracked, now int64) {
	if len(fs) == 0 {
		return
	}
	ok := fs[:0]
	for _, f := range fs {
		fwd, rev, err := m.pl.PlanFlow(f.cand)
		if err != nil {
			m.st.planErrors.Add(1)
			m.failLocked(f, now)
			continue
		}
		f.fwd, f.rev = fwd, rev
		// A stale flow may still hold one of the keys (its connection was
		// replaced, by a new SYN on a closed one, before the sync noticed):
		// the new connection wins.
		for _, k := range [2]flow.Key{fwd.Key, rev.Key} {
			if old := m.byKey[k]; old != nil && old != f {
				m.withdrawLocked(old, whyExpired)
			}
		}
		ok = append(ok, f)
	}
	m.flushRemovalsLocked()
	if len(ok) == 0 {
		return
	}

	// Each backend in turn gets the flows the ones before it refused.
	errs := make([]error, len(ok))
	full := make([]bool, len(ok)) // some backend had no room
	for i := range errs {
		errs[i] = errNoBackend
	}
	todo := make([]int, len(ok))
	for i := range todo {
		todo[i] = i
	}
	for bi := range m.bes {
		if len(todo) == 0 {
			break
		}
		m.installPairsLocked(bi, ok, todo, errs, full)
		next := todo[:0]
		for _, i := range todo {
			if errs[i] == nil {
				ok[i].be = bi
			} else {
				next = append(next, i)
			}
		}
		todo = next
	}
	m.flushRemovalsLocked()

	for i, f := range ok {
		switch {
		case errs[i] == nil:
			if f.fwd.Key.Proto == packet.ProtoTCP {
				// Conntrack stops seeing this connection's sequence
				// numbers now that XDP forwards it: the FIN or RST it
				// later punts would be out of window and dropped, and the
				// connection would never close. Linux's flowtable does the
				// same (flow_offload_ct_tcp). Only once installed: a flow
				// kept in software keeps its window checks. A FIN punted
				// in between is dropped once and accepted when resent.
				for _, c := range f.cand.Conns {
					m.ct.SetLiberal(c.Handle)
				}
			}
			m.offloadLocked(f)
			m.st.promoted[f.reason].Add(1)
		case full[i]:
			m.st.full.Add(1)
			if !f.full {
				f.full = true
				m.fullKept++
			}
			// No hot retry loop: the map frees up only when flows are
			// withdrawn, which syncs do; retry from the next sync on,
			// backing off while it stays full.
			f.fullRuns = min(f.fullRuns+1, 5)
			m.scheduleLocked(f, now+int64(m.cfg.SyncInterval)<<(f.fullRuns-1))
		default:
			m.st.installErrors.Add(1)
			m.failLocked(f, now)
		}
	}
}

// installPairsLocked installs the flows ok[todo[j]] into backend bi, every
// reverse entry before any forward entry, and records each flow's outcome
// in errs (nil: both directions are in) and full. A flow whose forward
// entry fails has its reverse entry rolled back (at the next flush).
func (m *Manager) installPairsLocked(bi int, ok []*tracked, todo []int, errs []error, full []bool) {
	b := m.bes[bi]
	acts := make([]flow.Action, len(todo))
	revErrs := make([]error, len(todo))
	for j, i := range todo {
		acts[j] = ok[i].rev
	}
	installAll(b, acts, revErrs)
	fwdIdx := make([]int, 0, len(todo))
	acts = acts[:0]
	for j, i := range todo {
		if revErrs[j] == nil {
			acts = append(acts, ok[i].fwd)
			fwdIdx = append(fwdIdx, j)
		}
	}
	fwdErrs := make([]error, len(acts))
	installAll(b, acts, fwdErrs)
	for k, j := range fwdIdx {
		if fwdErrs[k] != nil {
			revErrs[j] = fwdErrs[k]
			m.toRemove[bi] = append(m.toRemove[bi], ok[todo[j]].rev.Key) // roll back
		}
	}
	for j, i := range todo {
		errs[i] = revErrs[j]
		if errors.Is(revErrs[j], ErrFull) {
			full[i] = true
		}
	}
}

// installAll installs acts into b, skipping (and recording in errs) each
// entry b refuses; once it reports no room the rest are not tried.
func installAll(b Backend, acts []flow.Action, errs []error) {
	for i := 0; i < len(acts); {
		n, err := b.InstallBatch(acts[i:])
		n = max(0, min(n, len(acts)-i))
		i += n
		if i == len(acts) {
			return
		}
		if err == nil {
			err = errShort
		}
		errs[i] = err
		i++
		if errors.Is(err, ErrFull) {
			for ; i < len(acts); i++ {
				errs[i] = err
			}
		}
	}
}

// failLocked records a failed plan or install: retry after a back-off, up
// to maxTries, then leave the connection in software for good.
func (m *Manager) failLocked(f *tracked, now int64) {
	f.tries++
	if f.tries >= maxTries {
		m.forgetLocked(f)
		return
	}
	m.scheduleLocked(f, now+int64(m.cfg.SyncInterval)<<(f.tries-1))
}

// offloadLocked moves an installed flow from pending to offloaded.
func (m *Manager) offloadLocked(f *tracked) {
	p := pairOf(f.cand.Conns)
	delete(m.pending, p)
	if f.full {
		f.full = false
		m.fullKept--
	}
	f.state = stateOffloaded
	f.gen++
	f.seen = [2]Counters{}
	m.offloaded[p] = f
	m.byKey[f.fwd.Key], m.byKey[f.rev.Key] = f, f
}

// flushRemovalsLocked deletes the queued keys in batches, from the backend
// each was queued for. Failures are counted and skipped: an entry that
// cannot be deleted is one the backend no longer has, or one a later Reset
// or Adopt retries.
func (m *Manager) flushRemovalsLocked() {
	for bi, keys := range m.toRemove {
		for i := 0; i < len(keys); {
			n, err := m.bes[bi].RemoveBatch(keys[i:])
			n = max(0, min(n, len(keys)-i))
			i += n
			if i == len(keys) {
				break
			}
			_ = err // which key failed is all that matters: skip it
			m.st.removeErrors.Add(1)
			i++
		}
		m.toRemove[bi] = keys[:0]
	}
}
