package ovn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
	"github.com/xgw-dev/xgw/packet"
)

// DefaultDebounce is how long the controller waits after a database change
// for more before it translates: a burst of ovn-nbctl commands (and
// northd's SB writes that follow each) becomes one apply, while an
// lr-nat-add is live well under a second.
const DefaultDebounce = 75 * time.Millisecond

// opTimeout bounds each transaction; a database that does not answer in
// time is retried at the next pass.
const opTimeout = 5 * time.Second

// Options configure a Controller.
type Options struct {
	// Config is the file, with its ovn: section.
	Config *config.Config
	// Apply swaps a translated configuration into the running gateway
	// (the reload path); nil until SetApply (the first translation is
	// returned by Start and used to build the gateway).
	Apply func(*config.Config) error
	// Debounce; 0 = DefaultDebounce.
	Debounce time.Duration
	Log      *slog.Logger
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
	// Neighbors returns the external neighbours the gateway has learned
	// (IP -> MAC), recorded in MAC_Binding; nil: none recorded (see
	// SetNeighbors). It is read at every pass and every NeighborInterval.
	Neighbors func() map[packet.IP4]packet.MAC
}

// NeighborInterval is how often learned neighbours are compared with
// what the last pass saw (a map comparison; a pass only when one appeared
// or changed). Short, because a hypervisor behind a distributed gateway
// port sends nothing to an external address until its MAC_Binding
// exists: this bounds that first packet's wait.
const NeighborInterval = 250 * time.Millisecond

// Controller follows the OVN databases for one gateway chassis.
type Controller struct {
	opts   Options
	log    *slog.Logger
	id     identity
	nb, sb *db
	zones  *zones
	frags  map[string]*cached // per gateway router: last translation and verdict
	// Owned by the pass (reconcile): the last snapshot, whose unchanged
	// tables the next pass keeps instead of listing them again, and the
	// last translation with the base it was made from.
	snap     *snapshot
	lastCfg  *config.Config
	lastTr   translation
	lastFor  *config.Config // base of lastCfg
	kick     chan struct{}
	debounce time.Duration

	mu      sync.Mutex // guards base, applied, status, reported, apply
	base    *config.Config
	applied *config.Config // last topology handed to Apply (or returned by Start)
	status  Status
	// reported: problems already logged (each is logged once while it lasts).
	reported map[string]bool
	apply    func(*config.Config) error

	connected [2]atomic.Bool // nb, sb as last logged
	// endpoint: nb, sb member as last logged (Start, then the
	// connection watch only).
	endpoint [2]string
}

// Status is the controller's state for `xgw stats`, metrics and `xgw show`.
type Status struct {
	Chassis     string            `json:"chassis"`
	Connected   map[string]bool   `json:"connected"` // "nb", "sb"
	Endpoint    map[string]string `json:"endpoint"`
	Disconnects map[string]uint64 `json:"disconnects"`
	Syncs       uint64            `json:"syncs"` // translations applied
	// Translations counts the passes that translated the databases; a
	// pass for a change translation does not read (our own nb_cfg,
	// MAC_Binding) keeps the last one.
	Translations uint64    `json:"translations"`
	LastSync     int64     `json:"last_sync_unix"` // last change applied
	LastError    string    `json:"last_error,omitempty"`
	Served       []string  `json:"routers"` // gateway routers served here
	Claimed      []string  `json:"claimed_ports"`
	Problems     []Problem `json:"unsupported"`
	// Topology is what the routers served here consist of (for xgw show).
	Topology *Topology `json:"-"`
}

// Topology is the translated topology, as xgw show prints it.
type Topology struct {
	Chassis  []config.Chassis `json:"chassis"`
	Switches []config.Switch  `json:"switches"`
	Routers  []config.Router  `json:"routers"`
}

// New builds a controller for cfg's ovn: section. Nothing connects
// until Start.
func New(opts Options) (*Controller, error) {
	o := opts.Config.OVN
	if o == nil {
		return nil, errors.New("ovn: the configuration has no ovn: section")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	host := o.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("ovn: hostname: %w", err)
		}
		host = h
	}
	nbm, err := nbdb.FullDatabaseModel()
	if err != nil {
		return nil, err
	}
	sbm, err := sbdb.FullDatabaseModel()
	if err != nil {
		return nil, err
	}
	c := &Controller{opts: opts, log: opts.Log.With("ovn_chassis", o.Chassis), zones: newZones(), frags: map[string]*cached{},
		kick: make(chan struct{}, 1), debounce: opts.Debounce, base: opts.Config, apply: opts.Apply,
		reported: map[string]bool{},
		id: identity{name: o.Chassis, hostname: host, encapIPs: o.Encap.IP.List(), csum: o.Encap.CsumEnabled(),
			bridgeMappings: o.BridgeMappings}}
	if c.debounce <= 0 {
		c.debounce = DefaultDebounce
	}
	c.status = Status{Chassis: o.Chassis, Connected: map[string]bool{"nb": false, "sb": false},
		Endpoint: map[string]string{}, Disconnects: map[string]uint64{}}
	if c.nb, err = newDB("nb", nbm, nbSchema, nbTables, o.NB, o.TLS); err != nil {
		return nil, err
	}
	if c.sb, err = newDB("sb", sbm, sbSchema, sbTables, o.SB, o.TLS); err != nil {
		return nil, err
	}
	return c, nil
}

// SetNeighbors sets where learned neighbours come from (the gateway,
// built after Start).
func (c *Controller) SetNeighbors(f func() map[packet.IP4]packet.MAC) {
	c.mu.Lock()
	c.opts.Neighbors = f
	c.mu.Unlock()
	c.poke()
}

func (c *Controller) neighbors() func() map[packet.IP4]packet.MAC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opts.Neighbors
}

// SetApply sets the function that swaps a new translation into the
// running gateway; until it is set, changes are translated and kept.
// Every configuration f receives has passed config.Validate as it is
// (gateway.ApplyValidConfig relies on it).
func (c *Controller) SetApply(f func(*config.Config) error) {
	c.mu.Lock()
	c.apply = f
	c.mu.Unlock()
	c.poke()
}

func (c *Controller) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Start connects to both databases (retrying with backoff until ctx ends:
// a gateway that starts while the databases are away waits for them),
// registers the chassis, claims and translates once, and returns the
// configuration to build the gateway from. A schema version xgw does not
// support is an error at once.
func (c *Controller) Start(ctx context.Context) (*config.Config, error) {
	for _, d := range []*db{c.nb, c.sb} {
		delay := 100 * time.Millisecond
		for logged := false; ; {
			err := d.connect(ctx, c.poke)
			if err == nil {
				break
			}
			var se *schemaError
			if errors.As(err, &se) || ctx.Err() != nil {
				return nil, err
			}
			if !logged {
				c.log.Warn("OVN database not reachable yet; retrying", "db", d.name, "err", err)
				logged = true
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
		}
		c.log.Info("connected to the OVN database", "db", d.name, "endpoint", d.c.CurrentEndpoint())
	}
	for i, d := range []*db{c.nb, c.sb} {
		c.connected[i].Store(true)
		c.mu.Lock()
		c.status.Connected[d.name] = true
		c.endpoint[i] = d.c.CurrentEndpoint()
		c.status.Endpoint[d.name] = c.endpoint[i]
		c.mu.Unlock()
	}
	// Registration first: the claims need our Chassis row's UUID, which
	// the cache has once the insert comes back.
	for i := 0; ; i++ {
		cfg, done, err := c.reconcile(ctx)
		if err != nil {
			return nil, err
		}
		if done || i >= 50 {
			return cfg, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.kick:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Run follows the databases until ctx ends: each change (debounced) is
// translated and applied, and the connection state is watched.
func (c *Controller) Run(ctx context.Context) {
	// The connection watch runs beside the loop: a pass that waits on a
	// database that went away must not hide the transition.
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		var seen map[packet.IP4]packet.MAC
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if c.watchConnections() {
					c.poke()
				}
				// A pass reads and translates everything: only when a
				// neighbour appeared or changed its MAC.
				if nf := c.neighbors(); nf != nil && now.Sub(last) >= NeighborInterval {
					last = now
					if cur := nf(); !maps.Equal(cur, seen) {
						seen = cur
						c.poke()
					}
				}
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		// Debounce: wait for the burst to end (a quiet period), at most
		// four periods in all.
		deadline := time.After(4 * c.debounce)
	burst:
		for {
			select {
			case <-c.kick:
				continue
			case <-time.After(c.debounce):
				break burst
			case <-deadline:
				break burst
			case <-ctx.Done():
				return
			}
		}
		if _, _, err := c.reconcile(ctx); err != nil && ctx.Err() == nil {
			if c.connected[0].Load() && c.connected[1].Load() {
				c.log.Error("OVN: reconcile", "err", err)
			}
			// Try again: a database that was away is back, or the
			// transaction lost a race with another writer.
			time.AfterFunc(time.Second, c.poke)
		}
	}
}

// watchConnections logs each connection transition once and reports
// whether a database came back (a resync is due).
func (c *Controller) watchConnections() (back bool) {
	for i, d := range []*db{c.nb, c.sb} {
		// libovsdb's Connected stays true while it reconnects; its
		// current endpoint is empty from the loss of the connection
		// until the monitor is back. (It may wait for a reconnect
		// attempt in progress: hence this runs beside the loop.)
		ep := d.c.CurrentEndpoint()
		now := ep != ""
		was := c.connected[i].Swap(now)
		// Up at both samples but on another member of a cluster: the
		// connection was lost and remade between two samples (a raft
		// leadership change whose new leader libovsdb reached at once).
		moved := was && now && ep != c.endpoint[i]
		if was == now && !moved {
			continue
		}
		c.mu.Lock()
		c.status.Connected[d.name] = now
		if now {
			c.status.Endpoint[d.name] = ep
		}
		if !now || moved {
			c.status.Disconnects[d.name]++
		}
		c.mu.Unlock()
		if now {
			c.endpoint[i] = ep
			d.markAll() // the resync may have replaced rows without events
			if moved {
				c.log.Info("OVN database reconnected to another cluster member; resyncing", "db", d.name, "endpoint", ep)
			} else {
				c.log.Info("OVN database connection restored; resyncing", "db", d.name, "endpoint", ep)
			}
			back = true
		} else {
			c.log.Warn("OVN database connection lost; forwarding continues with the last topology, reconnecting", "db", d.name)
		}
	}
	return back
}

// reconcile is one pass: register, translate, apply, claim, report. done
// is false while the chassis is not yet registered in the cache (the
// claims wait for its UUID).
func (c *Controller) reconcile(ctx context.Context) (*config.Config, bool, error) {
	if !c.connected[0].Load() || !c.connected[1].Load() {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.applied, false, nil // keep forwarding with the last topology
	}
	// Reading the cache waits while libovsdb resyncs it after a
	// reconnect; a database that went away meanwhile must not hold the
	// pass forever.
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	// Only the tables that changed since the last pass are listed again
	// (the cache's events mark them); a failed read marks everything.
	start := c.opts.Now()
	s := &snapshot{nbPresent: true, sbPresent: true}
	nbDirty, nbRows := c.nb.takeDirty()
	sbDirty, sbRows := c.sb.takeDirty()
	// A pass that ends before its translation loses what changed: the
	// next one reads and translates everything.
	consumed := false
	defer func() {
		if !consumed {
			c.nb.markAll()
			c.sb.markAll()
		}
	}()
	fail := func(what string, err error) (*config.Config, bool, error) {
		return nil, false, fmt.Errorf("ovn: read the %s cache: %w", what, err)
	}
	nbT, err := readTables(rctx, c.nb.c, nbReaders, s, c.snap, nbDirty)
	if err != nil {
		return fail("NB", err)
	}
	sbT, err := readTables(rctx, c.sb.c, sbReaders, s, c.snap, sbDirty)
	if err != nil {
		return fail("SB", err)
	}
	c.snap = s
	read := c.opts.Now()
	ops, err := registerOps(c.sb.c, s, c.id)
	if err != nil {
		return nil, false, fmt.Errorf("ovn: register chassis: %w", err)
	}
	if len(ops) > 0 {
		if err := c.transact(ctx, "register chassis "+c.id.name, ops); err != nil {
			return nil, false, err
		}
	}
	c.mu.Lock()
	base := c.base
	c.mu.Unlock()
	// A pass for a change translate does not read (our own nb_cfg and
	// claims, MAC_Binding, SB_Global) keeps the last translation.
	var cfg *config.Config
	var tr translation
	if nbT || sbT || c.lastCfg == nil || c.lastFor != base {
		var rows *changes // nil: rebuild every router
		if c.lastCfg != nil && c.lastFor == base && nbRows != nil && sbRows != nil {
			rows = nbRows
			rows.merge(sbRows)
		}
		cfg, tr = translate(s, base, c.zones, c.frags, rows)
		c.lastCfg, c.lastTr, c.lastFor = cfg, tr, base
		c.mu.Lock()
		c.status.Translations++
		c.mu.Unlock()
	} else {
		cfg, tr = c.lastCfg, c.lastTr
	}
	consumed = true
	translated := c.opts.Now()

	c.mu.Lock()
	changed := c.applied == nil || !sameTopology(c.applied, cfg)
	apply := c.apply
	var applyErr error
	if changed && apply != nil && c.applied != nil {
		applyErr = apply(cfg)
	}
	if applyErr == nil && changed {
		c.applied = cfg
		c.status.Syncs++
		c.status.LastSync = c.opts.Now().Unix()
	}
	if applyErr != nil {
		c.status.LastError = applyErr.Error()
	} else if changed {
		c.status.LastError = ""
	}
	c.status.Served = tr.served
	c.status.Problems = tr.problems
	c.status.Topology = &Topology{Chassis: c.applied.Chassis, Switches: c.applied.Switches, Routers: c.applied.Routers}
	c.reportProblems(tr.problems)
	applied := c.applied
	c.mu.Unlock()
	if applyErr != nil {
		c.log.Error("OVN: the translated topology was refused; the running one stays", "err", applyErr)
	} else if changed && apply != nil {
		c.log.Info("OVN: topology applied", "routers", len(tr.served), "read", read.Sub(start), "translate", translated.Sub(read),
			"apply", c.opts.Now().Sub(translated))
	}

	ch := s.chassisByName(c.id.name)
	if ch == nil {
		return applied, false, nil
	}
	served := map[string]bool{}
	for _, r := range tr.served {
		served[r] = true
	}
	plan := planClaims(s, ch.UUID, c.id.name, served)
	var claimOpsAll []ovsdb.Operation
	for _, pb := range plan.claim {
		o, err := claimOps(c.sb.c, pb, ch.UUID)
		if err != nil {
			return nil, false, err
		}
		claimOpsAll = append(claimOpsAll, o...)
		c.log.Info("claiming port binding", "port", pb.LogicalPort, "type", pb.Type)
	}
	for _, pb := range plan.release {
		o, err := releaseOps(c.sb.c, pb)
		if err != nil {
			return nil, false, err
		}
		claimOpsAll = append(claimOpsAll, o...)
		c.log.Info("releasing port binding", "port", pb.LogicalPort, "type", pb.Type)
	}
	if nf := c.neighbors(); nf != nil {
		o, err := macBindingOps(c.sb.c, s, applied, nf(), c.opts.Now().UnixMilli())
		if err != nil {
			return nil, false, err
		}
		claimOpsAll = append(claimOpsAll, o...)
	}
	if applyErr == nil {
		o, err := nbCfgOps(c.sb.c, s, c.id.name, c.opts.Now().UnixMilli())
		if err != nil {
			return nil, false, err
		}
		claimOpsAll = append(claimOpsAll, o...)
	}
	if len(claimOpsAll) > 0 {
		if err := c.transact(ctx, "claim ports", claimOpsAll); err != nil {
			return nil, false, err
		}
	}
	c.mu.Lock()
	c.status.Claimed = c.status.Claimed[:0]
	for _, pb := range s.bindings {
		if pb.Chassis != nil && *pb.Chassis == ch.UUID && !slices.Contains(plan.release, pb) {
			c.status.Claimed = append(c.status.Claimed, pb.LogicalPort)
		}
	}
	for _, pb := range plan.claim {
		if !slices.Contains(c.status.Claimed, pb.LogicalPort) {
			c.status.Claimed = append(c.status.Claimed, pb.LogicalPort)
		}
	}
	slices.Sort(c.status.Claimed)
	c.mu.Unlock()
	return applied, true, nil
}

// reportProblems logs each problem once while it lasts. Call with mu held.
func (c *Controller) reportProblems(ps []Problem) {
	now := map[string]bool{}
	for _, p := range ps {
		k := p.String()
		now[k] = true
		if !c.reported[k] {
			c.log.Warn("OVN: unsupported", "object", p.Object, "reason", p.Reason, "refused_router", p.Router)
		}
	}
	c.reported = now
}

// transact runs ops in one transaction and checks every result.
func (c *Controller) transact(ctx context.Context, what string, ops []ovsdb.Operation) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	res, err := c.sb.c.Transact(ctx, ops...)
	if err != nil {
		return fmt.Errorf("ovn: %s: %w", what, err)
	}
	// The cache holds our rows now, but their events may come later:
	// the next pass must list what we wrote, not keep the old copy.
	for _, op := range ops {
		c.sb.markDirty(op.Table)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		return fmt.Errorf("ovn: %s: %w", what, err)
	}
	return nil
}

// sameTopology compares the parts of two translations that the gateway
// applies.
func sameTopology(a, b *config.Config) bool {
	return reflect.DeepEqual(a.Chassis, b.Chassis) && reflect.DeepEqual(a.Switches, b.Switches) &&
		reflect.DeepEqual(a.Routers, b.Routers)
}

// Compose is the reload path in OVN mode: the file re-read (file, with
// its ovn: section) with the topology last read from the databases. The
// ovn: section itself applies at restart only.
func (c *Controller) Compose(file *config.Config) (*config.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if file.OVN == nil {
		return nil, errors.New("ovn: the file no longer has an ovn: section; switching modes needs a restart")
	}
	nb := *file
	if !reflect.DeepEqual(file.OVN, c.base.OVN) {
		c.log.Warn("reload: the ovn: section changed; it applies at the next restart (remotes, chassis identity, encap and mappings are fixed while running)")
	}
	nb.OVN = c.base.OVN // the running section: remotes and identity are restart-only
	c.base = &nb
	out := compose(&nb)
	if c.applied != nil {
		out.Chassis, out.Switches, out.Routers = c.applied.Chassis, c.applied.Switches, c.applied.Routers
	}
	return out, nil
}

// Status returns the controller's state.
func (c *Controller) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Connected = map[string]bool{"nb": c.connected[0].Load(), "sb": c.connected[1].Load()}
	s.Endpoint = maps.Clone(c.status.Endpoint)
	s.Disconnects = maps.Clone(c.status.Disconnects)
	return s
}

// Close stops the database clients. With ovn.cleanup_on_exit it first
// does what ovn-controller does on `ovn-appctl exit` (without --restart):
// releases the claimed ports and deletes the Chassis and Chassis_Private
// rows. By default the rows stay (as after `exit --restart` or SIGTERM).
func (c *Controller) Close(ctx context.Context) error {
	var err error
	if c.base.OVN.CleanupOnExit && c.connected[1].Load() {
		s := &snapshot{}
		if err = readSB(ctx, c.sb.c, s); err == nil {
			var ops []ovsdb.Operation
			if ops, err = cleanupOps(c.sb.c, s, c.id.name); err == nil && len(ops) > 0 {
				err = c.transact(ctx, "unregister chassis "+c.id.name, ops)
			}
		}
		if err == nil {
			c.log.Info("unregistered the chassis (ovn.cleanup_on_exit)")
		}
	}
	c.nb.c.Close()
	c.sb.c.Close()
	return err
}
