package offload

import "sync/atomic"

// Stats are the manager's counters, for `xgw stats`. Gauges (Pending,
// Offloaded, KeptInSoftware) are as of the manager's last round.
type Stats struct {
	Enabled bool `json:"enabled"`
	// Candidates reported by the pipeline (duplicates included), and those
	// the queue or the pending set had no room for (reported again later).
	Candidates      uint64 `json:"candidates"`
	QueueOverflow   uint64 `json:"queue_overflow"`
	PendingOverflow uint64 `json:"pending_overflow"`
	// Connections waiting for the policy, offloaded (two fast-path
	// entries each), and eligible but kept in software by a full map (a
	// part of Pending).
	Pending        int `json:"pending"`
	Offloaded      int `json:"offloaded"`
	KeptInSoftware int `json:"kept_in_software"`

	Promoted  Promotions  `json:"promoted"`
	Withdrawn Withdrawals `json:"withdrawn"`

	PlanErrors    uint64 `json:"plan_errors"`
	InstallErrors uint64 `json:"install_errors"`
	RemoveErrors  uint64 `json:"remove_errors"`
	Full          uint64 `json:"full"` // installs refused by a full map
	Adopted       uint64 `json:"adopted"`
	AdoptFailed   uint64 `json:"adopt_failed"` // entries removed by Adopt
	Syncs         uint64 `json:"syncs"`
}

// Promotions count offloads by the rule that allowed them.
type Promotions struct {
	TCP         uint64 `json:"tcp"`
	UDPAnswered uint64 `json:"udp_answered"`
	UDPOneway   uint64 `json:"udp_oneway"`
	ICMP        uint64 `json:"icmp"`
}

// Withdrawals count removals by cause.
type Withdrawals struct {
	FinRst  uint64 `json:"fin_rst"`
	Expired uint64 `json:"expired"`
	Config  uint64 `json:"config"`
	Error   uint64 `json:"error"`
}

// counters are the live atomics behind Stats, so that Stats never waits
// for the manager's lock.
type counters struct {
	candidates, queueOverflow, pendingOverflow    atomic.Uint64
	planErrors, installErrors, removeErrors, full atomic.Uint64
	adopted, adoptFailed, syncs                   atomic.Uint64
	promoted                                      [numPromote]atomic.Uint64
	withdrawn                                     [numWithdraw]atomic.Uint64
	pending, offloaded, fullKept                  atomic.Int64
	enabled                                       atomic.Bool
}

// publishLocked updates the gauges.
func (m *Manager) publishLocked() {
	m.st.pending.Store(int64(len(m.pending)))
	m.st.offloaded.Store(int64(len(m.offloaded)))
	m.st.fullKept.Store(int64(m.fullKept))
	m.st.enabled.Store(m.onLocked())
}

// Stats returns a snapshot of the counters.
func (m *Manager) Stats() Stats {
	s := &m.st
	return Stats{
		Enabled:         s.enabled.Load(),
		Candidates:      s.candidates.Load(),
		QueueOverflow:   s.queueOverflow.Load(),
		PendingOverflow: s.pendingOverflow.Load(),
		Pending:         int(s.pending.Load()),
		Offloaded:       int(s.offloaded.Load()),
		KeptInSoftware:  int(s.fullKept.Load()),
		Promoted: Promotions{
			TCP:         s.promoted[whyTCP].Load(),
			UDPAnswered: s.promoted[whyUDPAnswered].Load(),
			UDPOneway:   s.promoted[whyUDPOneway].Load(),
			ICMP:        s.promoted[whyICMP].Load(),
		},
		Withdrawn: Withdrawals{
			FinRst:  s.withdrawn[whyFinRst].Load(),
			Expired: s.withdrawn[whyExpired].Load(),
			Config:  s.withdrawn[whyConfig].Load(),
			Error:   s.withdrawn[whyError].Load(),
		},
		PlanErrors:    s.planErrors.Load(),
		InstallErrors: s.installErrors.Load(),
		RemoveErrors:  s.removeErrors.Load(),
		Full:          s.full.Load(),
		Adopted:       s.adopted.Load(),
		AdoptFailed:   s.adoptFailed.Load(),
		Syncs:         s.syncs.Load(),
	}
}
