package offload

import (
	"errors"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// errShort stands for a FastPath that reported fewer entries done than
// given, without an error.
var errShort = errors.New("offload: fast path batch stopped short")

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

	acts := make([]flow.Action, len(ok))
	errs := make([]error, len(ok))
	for i, f := range ok {
		acts[i] = f.rev
	}
	m.installAll(acts, errs)
	revErrs := errs
	errs = make([]error, len(ok))
	fwdIdx := make([]int, 0, len(ok))
	acts = acts[:0]
	for i, f := range ok {
		if revErrs[i] == nil {
			acts = append(acts, f.fwd)
			fwdIdx = append(fwdIdx, i)
		}
	}
	fwdErrs := errs[:len(acts)]
	m.installAll(acts, fwdErrs)
	for j, i := range fwdIdx {
		if fwdErrs[j] != nil {
			revErrs[i] = fwdErrs[j]
			m.toRemove = append(m.toRemove, ok[i].rev.Key) // roll back
		}
	}
	m.flushRemovalsLocked()

	for i, f := range ok {
		switch err := revErrs[i]; {
		case err == nil:
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
		case m.cfg.IsFull(err):
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

// installAll installs acts, skipping (and recording in errs) each entry
// the fast path refuses; once it reports a full map the rest are not tried.
func (m *Manager) installAll(acts []flow.Action, errs []error) {
	for i := 0; i < len(acts); {
		n, err := m.fp.InstallBatch(acts[i:])
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
		if m.cfg.IsFull(err) {
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

// flushRemovalsLocked deletes the queued fast-path keys in batches.
// Failures are counted and skipped: an entry that cannot be deleted is one
// the fast path no longer has, or one a later Reset or Adopt retries.
func (m *Manager) flushRemovalsLocked() {
	keys := m.toRemove
	for i := 0; i < len(keys); {
		n, err := m.fp.RemoveBatch(keys[i:])
		n = max(0, min(n, len(keys)-i))
		i += n
		if i == len(keys) {
			break
		}
		_ = err // which key failed is all that matters: skip it
		m.st.removeErrors.Add(1)
		i++
	}
	m.toRemove = keys[:0]
}
