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
		if err := m.planLocked(f); err != nil {
			m.st.planErrors.Add(1)
			m.failLocked(f, now)
			continue
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
			if f.proto() == packet.ProtoTCP {
				// Conntrack stops seeing this connection's sequence
				// numbers now that XDP forwards it: the FIN or RST it
				// later punts would be out of window and dropped, and the
				// connection would never close. Linux's flowtable does the
				// same (flow_offload_ct_tcp). Only once installed: a flow
				// kept in software keeps its window checks. A FIN punted
				// in between is dropped once and accepted when resent.
				for _, c := range f.cand.Conns {
					m.setLiberal(c.Handle, f.v6 != nil)
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

// planLocked plans both directions of f. A stale flow may still hold
// one of the keys (its connection was replaced, by a new SYN on a closed
// one, before the sync noticed): the new connection wins.
func (m *Manager) planLocked(f *tracked) error {
	if f.v6 != nil {
		fwd, rev, err := m.pl6.PlanFlow6(flow.Candidate6{Key: f.v6.key, Conns: f.cand.Conns})
		if err != nil {
			return err
		}
		f.v6.fwd, f.v6.rev = fwd, rev
		for _, k := range [2]flow.Key6{fwd.Key, rev.Key} {
			if old := m.byKey6[k]; old != nil && old != f {
				m.withdrawLocked(old, whyExpired)
			}
		}
		return nil
	}
	fwd, rev, err := m.pl.PlanFlow(f.cand)
	if err != nil {
		return err
	}
	f.fwd, f.rev = fwd, rev
	for _, k := range [2]flow.Key{fwd.Key, rev.Key} {
		if old := m.byKey[k]; old != nil && old != f {
			m.withdrawLocked(old, whyExpired)
		}
	}
	return nil
}

// installPairsLocked installs the flows ok[todo[j]] into backend bi, every
// reverse entry before any forward entry (per family), and records each
// flow's outcome in errs (nil: both directions are in) and full. A flow
// whose forward entry fails has its reverse entry rolled back (at the
// next flush). IPv6 flows go to the backend's Backend6; one without it
// refuses them (errNoBackend).
func (m *Manager) installPairsLocked(bi int, ok []*tracked, todo []int, errs []error, full []bool) {
	var t4, t6 []int
	for _, i := range todo {
		if ok[i].v6 != nil {
			t6 = append(t6, i)
		} else {
			t4 = append(t4, i)
		}
	}
	if len(t4) > 0 {
		fwd, rev := make([]flow.Action, len(t4)), make([]flow.Action, len(t4))
		for j, i := range t4 {
			fwd[j], rev[j] = ok[i].fwd, ok[i].rev
		}
		for j, r := range installPairs(m.bes[bi].InstallBatch, fwd, rev) {
			errs[t4[j]] = r.err
			if r.rollback {
				m.toRemove[bi] = append(m.toRemove[bi], rev[j].Key)
			}
		}
	}
	if b6 := m.bes6[bi]; len(t6) > 0 && b6 != nil {
		fwd, rev := make([]flow.Action6, len(t6)), make([]flow.Action6, len(t6))
		for j, i := range t6 {
			fwd[j], rev[j] = ok[i].v6.fwd, ok[i].v6.rev
		}
		for j, r := range installPairs(b6.InstallBatch6, fwd, rev) {
			errs[t6[j]] = r.err
			if r.rollback {
				m.toRemove6[bi] = append(m.toRemove6[bi], rev[j].Key)
			}
		}
	}
	for _, i := range todo {
		if errors.Is(errs[i], ErrFull) {
			full[i] = true
		}
	}
}

// pairResult is the outcome of installing one flow's two entries: err
// is nil when both are in; rollback says the reverse entry went in
// while the forward one failed, and must be removed.
type pairResult struct {
	err      error
	rollback bool
}

// installPairs installs every rev[j], then fwd[j] for each j whose
// reverse entry went in, with install (a backend's InstallBatch or
// InstallBatch6).
func installPairs[A any](install func([]A) (int, error), fwd, rev []A) []pairResult {
	res := make([]pairResult, len(fwd))
	revErrs := make([]error, len(rev))
	installAll(install, rev, revErrs)
	idx := make([]int, 0, len(fwd))
	acts := make([]A, 0, len(fwd))
	for j := range fwd {
		if revErrs[j] == nil {
			acts = append(acts, fwd[j])
			idx = append(idx, j)
		}
	}
	fwdErrs := make([]error, len(acts))
	installAll(install, acts, fwdErrs)
	for k, j := range idx {
		if fwdErrs[k] != nil {
			revErrs[j] = fwdErrs[k]
			res[j].rollback = true
		}
	}
	for j := range res {
		res[j].err = revErrs[j]
	}
	return res
}

// installAll installs acts with install, skipping (and recording in
// errs) each entry the backend refuses; once it reports no room the rest
// are not tried.
func installAll[A any](install func([]A) (int, error), acts []A, errs []error) {
	for i := 0; i < len(acts); {
		n, err := install(acts[i:])
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
	p := f.pair()
	delete(m.pending, p)
	if f.full {
		f.full = false
		m.fullKept--
	}
	f.state = stateOffloaded
	f.gen++
	f.seen = [2]Counters{}
	m.offloaded[p] = f
	if f.v6 != nil {
		m.byKey6[f.v6.fwd.Key], m.byKey6[f.v6.rev.Key] = f, f
	} else {
		m.byKey[f.fwd.Key], m.byKey[f.rev.Key] = f, f
	}
}

// flushRemovalsLocked deletes the queued keys in batches, from the backend
// each was queued for. Failures are counted and skipped: an entry that
// cannot be deleted is one the backend no longer has, or one a later Reset
// or Adopt retries.
func (m *Manager) flushRemovalsLocked() {
	for bi, keys := range m.toRemove {
		m.st.removeErrors.Add(uint64(removeAll(m.bes[bi].RemoveBatch, keys)))
		m.toRemove[bi] = keys[:0]
	}
	for bi, keys := range m.toRemove6 {
		if len(keys) > 0 {
			m.st.removeErrors.Add(uint64(removeAll(m.bes6[bi].RemoveBatch6, keys)))
		}
		m.toRemove6[bi] = keys[:0]
	}
}

// removeAll deletes keys with remove (RemoveBatch or RemoveBatch6),
// skipping each that fails, and returns how many failed.
func removeAll[K any](remove func([]K) (int, error), keys []K) (failed int) {
	for i := 0; i < len(keys); {
		n, err := remove(keys[i:])
		n = max(0, min(n, len(keys)-i))
		i += n
		if i == len(keys) {
			break
		}
		_ = err // which key failed is all that matters: skip it
		failed++
		i++
	}
	return failed
}
