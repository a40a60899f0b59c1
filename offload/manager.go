package offload

import (
	"sync"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
)

// Policy defaults. See Config for what each one trades.
const (
	// DefaultUDPOnewayPackets promotes a one-way UDP flow on its 32nd
	// packet. The seed's dperf load (5000 flows at 5 Mpps, 1000 pps a
	// flow) gets there in about 30 ms, one or two evaluation ticks; no
	// request/response protocol (DNS, NTP, SNMP, with their retries) sends
	// 32 unanswered datagrams on one 5-tuple.
	DefaultUDPOnewayPackets = 32
	// DefaultUDPOnewayAfter promotes a slower one-way flow after 100 ms, if
	// it has sent at least OnewayMinPackets by then: long-lived, low-rate
	// streams (syslog, statsd, RTP towards a sink) leave software quickly,
	// while a query and its retries never qualify.
	DefaultUDPOnewayAfter = 100 * time.Millisecond
	// OnewayMinPackets is how many packets the time rule needs: more than a
	// resolver's query plus its retries.
	OnewayMinPackets = 4
	// AnsweredMinPackets is how many packets (both directions) an answered
	// UDP flow needs: a single request/response (one DNS lookup) is over
	// before its entries could be used, so installing them would only cost
	// two map updates and two removals.
	AnsweredMinPackets = 3

	DefaultSyncInterval = time.Second
	DefaultEvalInterval = 20 * time.Millisecond
	DefaultQueueSize    = 8192
	DefaultMaxPending   = 1 << 17

	// noteQueueSize bounds Withdraw requests between two drains; FIN/RST
	// on offloaded connections is rare next to packets.
	noteQueueSize = 1024
)

// Config is the manager's policy and tuning. Zero fields take defaults.
type Config struct {
	// Enabled turns promotion on. A disabled manager still marks the
	// connections it is told about (so the pipeline stops reporting them)
	// but keeps all of them in software.
	Enabled bool
	// UDPOnewayPackets and UDPOnewayAfter are the one-way UDP policy: a
	// UDP flow never answered is promoted after this many packets in its
	// direction, or once it is this old and has sent OnewayMinPackets.
	// 0 takes the defaults; a negative value turns that rule off.
	UDPOnewayPackets int
	UDPOnewayAfter   time.Duration
	// UDPOnewayOff keeps one-way UDP in software whatever the two fields
	// above say: the OVS/act_ct baseline the benchmarks compare against.
	UDPOnewayOff bool
	// SyncInterval is how often fast-path counters are credited to
	// conntrack and dead flows withdrawn. It bounds how late an idle
	// offloaded connection expires, and must stay well below the shortest
	// conntrack timeout that applies to offloaded connections (UDP 30 s).
	SyncInterval time.Duration
	// EvalInterval is how often pending connections that are due are
	// re-evaluated; each one backs off from EvalInterval to SyncInterval.
	EvalInterval time.Duration
	// QueueSize bounds the candidate queue between two drains; MaxPending
	// bounds the pending set. Overflow of either is counted and harmless:
	// the connection stays unmarked and the pipeline reports it again.
	QueueSize  int
	MaxPending int
	// Clock is conntrack's clock (the pipeline's, nanoseconds). Default:
	// wall clock, as the pipeline's. Backends keep their own (Backend.Now).
	Clock func() int64
}

// FromConfig maps the config file's offload section onto a Config.
func FromConfig(c config.Offload) Config {
	return Config{
		Enabled:          c.Enabled,
		UDPOnewayPackets: c.UDPOnewayPackets,
		UDPOnewayAfter:   time.Duration(c.UDPOnewayMS) * time.Millisecond,
		UDPOnewayOff:     !c.OnewayEnabled(),
	}
}

// WithDefaults fills in what c leaves zero, as New does.
func (c Config) WithDefaults() Config {
	if c.UDPOnewayPackets == 0 {
		c.UDPOnewayPackets = DefaultUDPOnewayPackets
	}
	if c.UDPOnewayAfter == 0 {
		c.UDPOnewayAfter = DefaultUDPOnewayAfter
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.EvalInterval <= 0 {
		c.EvalInterval = DefaultEvalInterval
	}
	c.EvalInterval = min(c.EvalInterval, c.SyncInterval)
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Clock == nil {
		c.Clock = func() int64 { return time.Now().UnixNano() }
	}
	return c
}

// Manager is the offload manager. Create it with New; it implements
// flow.Sink.
type Manager struct {
	ct  *conntrack.Table
	pl  Planner
	bes []Backend // in install order; tracked.be indexes it
	// The IPv6 side (family.go): its table and planner (SetIPv6), and
	// each backend's Backend6 (nil where it has none).
	ct6  *conntrack.Table6
	pl6  Planner6
	bes6 []Backend6

	cands  candQueue[flow.Candidate]
	cands6 candQueue[flow.Candidate6]
	notes  noteQueue
	st     counters

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	running   bool // started by New

	mu        sync.Mutex
	cfg       Config
	pending   map[pair]*tracked
	offloaded map[pair]*tracked
	byHandle  map[hkey]*tracked      // both zone entries of every flow
	byKey     map[flow.Key]*tracked  // both directions of offloaded IPv4 flows
	byKey6    map[flow.Key6]*tracked // and of IPv6 ones
	sched     schedule
	fullKept  int // pending flows waiting for room in the fast path

	// Scratch, reused under mu.
	drained   []flow.Candidate
	drained6  []flow.Candidate6
	handles   []hkey
	due       []*tracked
	toRemove  [][]flow.Key  // by backend
	toRemove6 [][]flow.Key6 // by backend
	keyIdx    map[flow.Key]int
	keyIdx6   map[flow.Key6]int
}

// New returns a running manager over backends, tried in order for each
// flow. With no backend every connection stays in software, as with
// cfg.Enabled false; pl may then be nil.
func New(cfg Config, ct *conntrack.Table, pl Planner, backends []Backend) *Manager {
	m := newManager(cfg, ct, pl, backends)
	m.running = true
	go m.run()
	return m
}

// newManager builds a manager without its goroutine; tests drive step.
func newManager(cfg Config, ct *conntrack.Table, pl Planner, backends []Backend) *Manager {
	cfg = cfg.WithDefaults()
	m := &Manager{
		ct: ct, pl: pl, bes: backends, bes6: backends6(backends), cfg: cfg,
		toRemove:  make([][]flow.Key, len(backends)),
		toRemove6: make([][]flow.Key6, len(backends)),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		pending:   map[pair]*tracked{},
		offloaded: map[pair]*tracked{},
		byHandle:  map[hkey]*tracked{},
		byKey:     map[flow.Key]*tracked{},
		byKey6:    map[flow.Key6]*tracked{},
		keyIdx:    map[flow.Key]int{},
		keyIdx6:   map[flow.Key6]int{},
		drained:   make([]flow.Candidate, 0, cfg.QueueSize),
		drained6:  make([]flow.Candidate6, 0, cfg.QueueSize),
		handles:   make([]hkey, 0, noteQueueSize),
	}
	m.cands.init(cfg.QueueSize)
	m.cands6.init(cfg.QueueSize)
	m.notes.init(noteQueueSize)
	m.publishLocked()
	return m
}

// run is the manager goroutine: it drains on wake-ups, evaluates pending
// connections every EvalInterval and syncs every SyncInterval.
func (m *Manager) run() {
	defer close(m.done)
	m.mu.Lock()
	evalEvery, syncEvery := m.cfg.EvalInterval, m.cfg.SyncInterval
	m.mu.Unlock()
	eval := time.NewTicker(evalEvery)
	defer eval.Stop()
	sync := time.NewTicker(syncEvery)
	defer sync.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
			m.step(false)
		case <-eval.C:
			m.step(false)
		case <-sync.C:
			m.step(true)
		}
	}
}

// Close stops the manager goroutine. It leaves the fast-path entries in
// place, on purpose: with pinned maps a restarted xgw keeps forwarding and
// takes them back with Adopt. Call Reset first to withdraw them.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		close(m.stop)
		if m.running {
			<-m.done
		}
	})
}

// step runs one round: drain the queues, evaluate due pending connections,
// and (doSync) credit counters and withdraw dead flows.
func (m *Manager) step(doSync bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Clock()
	m.drainLocked(now)
	m.notesLocked(now)
	m.evalLocked(now)
	if doSync {
		m.syncLocked(now)
	}
	m.flushRemovalsLocked()
	m.publishLocked()
}

// Reset withdraws every offloaded flow and forgets every pending one, and
// clears MarkOffloadSeen on all connections, so that the pipeline reports
// them again and they are re-planned under the new configuration. It is
// what a reload calls; it walks the whole conntrack table, which a reload
// can afford.
func (m *Manager) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resetLocked()
}

// Reconfigure applies a new policy (Enabled, the one-way rules,
// MaxPending, the back-off bounds; not the goroutine's tick rates nor the
// queue's size, fixed at New) and resets, so that every live
// connection is judged again under it.
func (m *Manager) Reconfigure(cfg Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The goroutine's tickers keep their rates; the clock the caller
	// wired stays unless it passes a new one.
	if cfg.Clock == nil {
		cfg.Clock = m.cfg.Clock
	}
	m.cfg = cfg.WithDefaults()
	m.resetLocked()
}

func (m *Manager) resetLocked() {
	now := m.cfg.Clock()
	m.drainLocked(now)
	flows := make([]*tracked, 0, len(m.offloaded))
	for _, f := range m.offloaded {
		flows = append(flows, f)
	}
	m.creditLocked(flows, now)
	for _, f := range flows {
		m.withdrawLocked(f, whyConfig)
	}
	for _, f := range m.pending {
		m.forgetLocked(f)
	}
	m.flushRemovalsLocked()
	m.ct.Range(func(ci conntrack.ConnInfo) bool {
		if ci.Mark&flow.MarkOffloadSeen != 0 {
			m.ct.SetMark(ci.Handle, ci.Mark&^flow.MarkOffloadSeen)
		}
		return true
	})
	if m.ct6 != nil {
		m.ct6.Range(func(ci conntrack.ConnInfo6) bool {
			if ci.Mark&flow.MarkOffloadSeen != 0 {
				m.ct6.SetMark(ci.Handle, ci.Mark&^flow.MarkOffloadSeen)
			}
			return true
		})
	}
	m.publishLocked()
}

// onLocked tells whether promotion is on: enabled, and somewhere to put
// flows.
func (m *Manager) onLocked() bool { return m.cfg.Enabled && len(m.bes) > 0 }

var (
	_ flow.Sink  = (*Manager)(nil)
	_ flow.Sink6 = (*Manager)(nil)
)
