package neigh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// Config selects what a Table mirrors.
type Config struct {
	// Interfaces are the Linux interfaces whose neighbours are mirrored
	// (underlay and external; duplicates are fine).
	Interfaces []string
	// Namespace is the network namespace the interfaces live in. The zero
	// value (or netns.None()) means the namespace of the calling process.
	Namespace netns.NsHandle
	// QueueLen bounds the pending resolution requests; 0 means 1024.
	// Misses beyond it are counted and dropped: the next miss of the same
	// address asks again.
	QueueLen int
	// Logger receives resolution failures; nil means slog.Default().
	Logger *slog.Logger
}

// Stats are the Table's counters.
type Stats struct {
	Entries     int    // usable IP → MAC mappings in the snapshot, both families
	Misses      uint64 // Lookups that found nothing
	QueueFull   uint64 // misses not queued because the queue was full
	Resolutions uint64 // resolutions started (managed entry or probe sent)
	Managed     uint64 // managed neighbour entries created
	Probes      uint64 // UDP probes sent (fallback when managed entries fail)
	Failures    uint64 // resolutions that could not start (no route, error)
	Events      uint64 // netlink neighbour events applied
	Resyncs     uint64 // full re-reads after a lost netlink event stream
}

// Table is a route.Neighbors backed by the kernel's neighbour table.
// Lookup is safe for concurrent use and never blocks or allocates.
type Table struct {
	snap    atomic.Pointer[snapshot]
	version atomic.Uint64

	ns     netns.NsHandle
	h      *netlink.Handle
	links  map[int]string // ifindex → name, of the mirrored interfaces
	misses chan route.IP6 // IPv4 as IPv4-mapped IPv6: one cheap fixed-size element
	log    *slog.Logger

	mu    sync.Mutex
	state state // guarded by mu; published into snap by publish

	miss, queueFull, resolutions, managed, probes, failures, events, resyncs atomic.Uint64
	// noManaged makes the resolver send UDP probes: the kernel refused a
	// managed entry (or a test asked for the fallback).
	noManaged atomic.Bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New resolves the interfaces, reads the current neighbour table and
// starts the watcher and resolver goroutines. Close stops them.
func New(cfg Config) (*Table, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("neigh: no interfaces")
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Namespace == 0 {
		// The zero value is "unset", not fd 0: netns.None() means the
		// caller's namespace to the netlink library.
		cfg.Namespace = netns.None()
	}
	h, err := netlink.NewHandleAt(cfg.Namespace)
	if err != nil {
		return nil, fmt.Errorf("neigh: netlink handle: %w", err)
	}
	t := &Table{
		ns:     cfg.Namespace,
		h:      h,
		links:  make(map[int]string),
		misses: make(chan route.IP6, cfg.QueueLen),
		log:    cfg.Logger,
		state:  newState(),
	}
	for _, name := range cfg.Interfaces {
		l, err := h.LinkByName(name)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("neigh: interface %q: %w", name, err)
		}
		t.links[l.Attrs().Index] = name
	}
	t.snap.Store(&snapshot{v4: map[packet.IP4]packet.MAC{}, v6: map[route.IP6]packet.MAC{}})

	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	w, err := t.subscribe()
	if err == nil {
		if err = t.reload(); err != nil {
			w.stop()
		}
	}
	if err != nil {
		cancel()
		h.Close()
		return nil, err
	}
	t.wg.Add(2)
	go func() { defer t.wg.Done(); t.watch(ctx, w) }()
	go func() { defer t.wg.Done(); t.resolve(ctx) }()
	return t, nil
}

// Close stops the goroutines and releases the netlink sockets.
func (t *Table) Close() error {
	t.closeOnce.Do(func() {
		t.cancel()
		t.wg.Wait()
		t.h.Close()
	})
	return nil
}

// Lookup returns the MAC of ip if the kernel has a usable entry for it
// (or for the gateway the kernel routes it through). On a miss it queues
// ip for resolution without blocking and returns false; the caller drops
// the packet and a later one finds the entry.
func (t *Table) Lookup(ip packet.IP4) (packet.MAC, bool) {
	if mac, ok := t.snap.Load().v4[ip]; ok {
		return mac, true
	}
	// The miss path is written out here and in Lookup6 (not in a shared
	// helper) to keep both within the compiler's inlining budget.
	t.miss.Add(1)
	select {
	case t.misses <- route.IP6{10: 0xff, 11: 0xff, 12: ip[0], 13: ip[1], 14: ip[2], 15: ip[3]}:
	default:
		t.queueFull.Add(1)
	}
	return packet.MAC{}, false
}

// Lookup6 is Lookup for an IPv6 next hop: the MAC that neighbour
// discovery (the kernel's) found for ip or for the gateway the kernel
// routes ip through. On a miss it queues ip for resolution and returns
// false. It never blocks or allocates.
func (t *Table) Lookup6(ip route.IP6) (packet.MAC, bool) {
	if mac, ok := t.snap.Load().v6[ip]; ok {
		return mac, true
	}
	t.miss.Add(1)
	select {
	case t.misses <- ip:
	default:
		t.queueFull.Add(1)
	}
	return packet.MAC{}, false
}

// Snapshot returns the current IP -> MAC map without the side effects of
// Lookup. The map is shared and must not be written (a published map is
// never written again; the next change publishes a new one).
func (t *Table) Snapshot() map[packet.IP4]packet.MAC { return t.snap.Load().v4 }

// Snapshot6 is Snapshot for the IPv6 neighbours.
func (t *Table) Snapshot6() map[route.IP6]packet.MAC { return t.snap.Load().v6 }

// Peek is Lookup without its side effects (no miss counted, no
// resolution queued): for callers that poll an address already asked for,
// such as the datapath's packets held for a next hop.
func (t *Table) Peek(ip packet.IP4) (packet.MAC, bool) {
	mac, ok := t.snap.Load().v4[ip]
	return mac, ok
}

// Peek6 is Lookup6 without its side effects.
func (t *Table) Peek6(ip route.IP6) (packet.MAC, bool) {
	mac, ok := t.snap.Load().v6[ip]
	return mac, ok
}

// peekAddr is Peek or Peek6 by a's family.
func (t *Table) peekAddr(a netip.Addr) (packet.MAC, bool) {
	if a.Is4() {
		return t.Peek(a.As4())
	}
	return t.Peek6(a.As16())
}

// Stats returns a snapshot of the counters.
func (t *Table) Stats() Stats {
	return Stats{
		Entries:     len(t.snap.Load().v4) + len(t.snap.Load().v6),
		Misses:      t.miss.Load(),
		QueueFull:   t.queueFull.Load(),
		Resolutions: t.resolutions.Load(),
		Managed:     t.managed.Load(),
		Probes:      t.probes.Load(),
		Failures:    t.failures.Load(),
		Events:      t.events.Load(),
		Resyncs:     t.resyncs.Load(),
	}
}

// publish rebuilds the snapshot from the state. Callers hold mu. The map
// is rebuilt rather than mutated because readers hold no lock: a
// published map is never written again. The snapshot is stored before
// the version moves, so a reader that sees a version and then reads the
// snapshot sees that version's entries or newer ones.
func (t *Table) publish() {
	m := t.state.build()
	old := t.snap.Load()
	t.snap.Store(&m)
	if old == nil || !maps.Equal(old.v4, m.v4) || !maps.Equal(old.v6, m.v6) {
		t.version.Add(1)
	}
}

// Version changes whenever some address's MAC changes, appears or goes.
// Caches of forwarding decisions that embed MACs (the pipeline's flow
// cache) compare it to know when to forget them.
func (t *Table) Version() uint64 { return t.version.Load() }

var (
	_ route.Neighbors  = (*Table)(nil)
	_ route.Neighbors6 = (*Table)(nil)
)
