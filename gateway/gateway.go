// Package gateway is the running xgw: it builds the pipeline, the XDP
// programs, the AF_XDP engine, the offload manager and its backends, and
// the metrics registry from a configuration, and owns what happens to
// them while it runs: reloads (the life of NAT addresses, reload.go), the
// adoption of a previous xgw's pinned fast path (offload.go) or of an
// operator-attached program (adopt.go). cmd/xgw parses flags and wires a
// Gateway to the control socket and the metrics server.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/engine"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/metrics"
	"github.com/xgw-dev/xgw/neigh"
	"github.com/xgw-dev/xgw/offload"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// xdpIface is one interface with xdp_gw attached. Each interface gets its
// own copy of the program: the XSKMAP is keyed by queue index only, and a
// socket bound to one interface cannot take frames from another.
type xdpIface struct {
	name   string
	objs   *bpf.Objects
	link   link.Link
	nat    bool // steers the NAT addresses (the external side)
	pinned bool // the link is pinned: it stays attached when xgw exits

	adopted bool // an operator attached the program (adopt.go); no link
	slot    int  // its sockets' xgw_xsks slot (adopt mode; else 0)
}

// Gateway is everything `xgw run` builds, in the order it builds it; Close
// tears down in reverse. It is also the control socket's Provider.
type Gateway struct {
	log     *slog.Logger
	version string
	started time.Time
	clock   func() int64

	ct    *conntrack.Table
	ct6   *conntrack.Table6 // IPv6 connections, sized as ct
	neigh *neigh.Table
	pipe  *datapath.Pipeline
	xdp   []*xdpIface
	fp    *bpf.FastPath    // the XDP fast path's flows, shared by every interface
	off   *offload.Manager // promotes connections into fp and withdraws them
	eng   *engine.Engine

	ifnames  [2]string            // underlay, external
	garp     *garpSocket          // gratuitous ARP on the external interface (garp.go); nil if it did not open
	reload   *reloader            // the running config; SIGHUP and xgw reload
	registry *prometheus.Registry // what /metrics serves; add collectors here

	ovnMu     sync.Mutex // guards the OVN-mode hooks (ovn.go)
	ovnStatus func() any
	ovnShow   func(io.Writer) error
}

// Options are the knobs of `xgw run` that are not in the config file.
type Options struct {
	XDPMode bpf.Mode
	Queues  int    // RX queues per interface; 0: all active ones
	Version string // reported in /stats
}

// New builds the gateway for cfg, loaded from cfgPath (which a reload
// re-reads). Nothing forwards until Run.
func New(cfgPath string, cfg *config.Config, opts Options, log *slog.Logger) (_ *Gateway, err error) {
	g := &Gateway{log: log, version: opts.Version, started: time.Now(), clock: func() int64 { return time.Now().UnixNano() }}
	defer func() {
		if err != nil {
			g.Close() // whatever was built so far
		}
	}()
	topo, err := route.Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("build the topology: %w", err)
	}
	if err := checkHostPorts(cfg, readHostPorts); err != nil {
		return nil, err
	}
	under, ext := cfg.Interfaces.Underlay.Name, cfg.Interfaces.External.Name

	// Prefaulted: no new connection should pay a page fault.
	if g.ct, err = conntrack.NewTable(conntrack.Config{Capacity: cfg.Conntrack.Capacity,
		Timeouts: timeouts(cfg.Conntrack.Timeouts), Prefault: true}); err != nil {
		return nil, fmt.Errorf("create the conntrack table: %w", err)
	}
	// Not prefaulted: IPv6 is new and most deployments' connections are
	// IPv4; its pages come as IPv6 connections do.
	if g.ct6, err = conntrack.NewTable6(conntrack.Config{Capacity: cfg.Conntrack.Capacity,
		Timeouts: timeouts(cfg.Conntrack.Timeouts)}); err != nil {
		return nil, fmt.Errorf("create the IPv6 conntrack table: %w", err)
	}
	if g.neigh, err = neigh.New(neigh.Config{Interfaces: []string{under, ext}, Logger: log}); err != nil {
		return nil, fmt.Errorf("mirror the neighbour table: %w", err)
	}
	ifi, err := net.InterfaceByName(under)
	if err != nil {
		return nil, fmt.Errorf("underlay interface: %w", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("underlay interface %s has no Ethernet address", under)
	}
	underMTU, extMTU, err := mtus(cfg.Interfaces, ifi)
	if err != nil {
		return nil, err
	}
	if g.pipe, err = datapath.New(datapath.Config{Topology: topo, Conntrack: g.ct, Conntrack6: g.ct6, Neighbors: g.neigh,
		UnderlayMAC: packet.MAC(ifi.HardwareAddr), Clock: g.clock,
		UnderlayMTU: underMTU, ExternalMTU: extMTU}); err != nil {
		return nil, fmt.Errorf("build the pipeline: %w", err)
	}

	// xdp_gw on each interface: the underlay's steers Geneve to our VTEP,
	// the external's steers the NAT addresses (both, if they are one).
	vtep := topo.VTEP.Addr()
	pin := PinPath(cfg.Offload)
	byName := map[string]*xdpIface{}
	if cfg.XDP.Attach == config.XDPAttachAdopt {
		// Fills byName: the loop below then attaches nothing.
		if err := g.adopt(byName, cfg.XDP.PinPath, topo, under, ext); err != nil {
			return nil, err
		}
	}
	for _, side := range []struct {
		name      string
		vtep, nat bool
	}{{under, true, under == ext}, {ext, under == ext, true}} {
		if byName[side.name] != nil {
			continue
		}
		lo := bpf.Options{GenevePort: topo.GenevePort, FlowCapacity: cfg.Offload.Flows, PinPath: pin}
		if len(g.xdp) > 0 {
			lo.Share = g.xdp[0].objs // one fast path for every interface
		}
		x, err := g.attach(side.name, side.vtep, side.nat, vtep, topo, opts.XDPMode, lo)
		if err != nil {
			return nil, err
		}
		byName[side.name] = x
	}
	if err := g.startOffload(cfg, topo, under, ext); err != nil {
		return nil, err
	}

	g.eng, err = engine.New(engine.Config{
		Underlay: under, External: ext,
		VTEP: topo.VTEP, GenevePort: topo.GenevePort,
		NewProcessor: func() engine.Processor { return g.pipe.NewWorker() },
		Register: func(ifname string, queue, fd int) error {
			return byName[ifname].register(queue, fd)
		},
		Conntrack: bothTables{g.ct, g.ct6},
		Clock:     g.clock,
		Queues:    opts.Queues,
		Port:      cfg.AFXDP.Port(),
		Logger:    log,
	})
	if err != nil {
		return nil, fmt.Errorf("open the AF_XDP sockets: %w", err)
	}

	// The running configuration, for reloads: what they swap (the
	// pipeline's topology) and what they steer (the NAT addresses).
	var steer []natSteering
	for _, x := range g.xdp {
		if x.nat {
			steer = append(steer, x.objs)
		}
	}
	g.reload = newReloader(cfgPath, cfg, topo, g.pipe, g.ct, steer, log)
	g.reload.offload = func(o config.Offload) {
		g.off.Reconfigure(offloadConfig(o, g.clock))
	}
	g.reload.vteps = g.fp
	if g.off != nil {
		g.reload.replan = g.off.Reset
	}
	// Gratuitous ARP for the NAT addresses (garp.go): on start (Run) and
	// for those a reload adds. Without the socket the addresses are still
	// answered on request.
	if g.garp, err = openGARP(ext); err != nil {
		g.log.Warn("gratuitous ARP disabled: NAT addresses are answered on request only", "err", err)
		err = nil
	} else {
		g.reload.garp = g.garp
	}

	// Metrics read the /stats snapshot at scrape time. More collectors
	// (the offload manager's: metrics.NewOffloadCollector) register here.
	g.registry = metrics.NewRegistry(metrics.NewCollector(g, metrics.Options{Zones: g.zoneCounts}),
		metrics.NewOffloadCollector(g.offloadMetrics))
	return g, nil
}

// attach loads a copy of xdp_gw for one interface, programs its addresses
// and attaches it.
func (g *Gateway) attach(name string, geneve, nat bool, vtep netip.Addr, topo *route.Topology, mode bpf.Mode, opts bpf.Options) (*xdpIface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	if geneve {
		opts.VTEP = vtep
	}
	objs, err := bpf.Load(opts)
	if err != nil {
		return nil, fmt.Errorf("load the XDP program for %s: %w", name, err)
	}
	x := &xdpIface{name: name, objs: objs, nat: nat}
	g.xdp = append(g.xdp, x) // close() releases it from here on
	if geneve {
		// Before the attach (or the swap into a pinned link): an empty
		// set would punt every Geneve packet (vteps.go).
		if err := setVTEPs(objs.FastPath(), topo); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if nat {
		for _, ip := range topo.NATIPs() {
			if err := natSteerOf(topo, ip).program(objs, ip); err != nil {
				return nil, fmt.Errorf("program NAT addresses on %s: %w", name, err)
			}
		}
	}
	if opts.PinPath == "" {
		if x.link, err = objs.Attach(ifi.Index, mode); err != nil {
			return nil, fmt.Errorf("attach XDP to %s: %w", name, err)
		}
		g.log.Info("XDP attached", "interface", name, "ifindex", ifi.Index, "geneve_vtep", opts.VTEP, "nat_addresses", nat)
		return x, nil
	}
	// Pinned: a previous xgw's link is taken over with an atomic program
	// swap, so established flows never stop being forwarded.
	l, adopted, err := objs.AttachPinned(ifi.Index, mode, "link_"+name)
	if err != nil {
		return nil, fmt.Errorf("attach XDP to %s (pinned under %s): %w", name, opts.PinPath, err)
	}
	x.link, x.pinned = l, true
	g.log.Info("XDP attached", "interface", name, "ifindex", ifi.Index, "geneve_vtep", opts.VTEP,
		"nat_addresses", nat, "pinned", opts.PinPath, "took_over_running_program", adopted)
	return x, nil
}

func timeouts(t config.Timeouts) conntrack.Timeouts {
	return conntrack.Timeouts{
		TCPSynSent: t.TCPSynSent.Value(), TCPSynRecv: t.TCPSynRecv.Value(),
		TCPEstablished: t.TCPEstablished.Value(), TCPFinWait: t.TCPFinWait.Value(),
		TCPTimeWait: t.TCPTimeWait.Value(), TCPClose: t.TCPClose.Value(),
		UDPFirst: t.UDPFirst.Value(), UDPSingle: t.UDPSingle.Value(), UDPMultiple: t.UDPMultiple.Value(),
		ICMPFirst: t.ICMPFirst.Value(), ICMPReply: t.ICMPReply.Value(),
	}
}

// Run forwards until ctx ends; meanwhile it retires NAT addresses that a
// reload dropped once their last connection is gone.
func (g *Gateway) Run(ctx context.Context) error {
	g.reload.announceAll()
	go func() {
		t := time.NewTicker(drainInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				g.reload.drain()
			}
		}
	}()
	return g.eng.Run(ctx)
}

// Reload implements control.Reloader (xgw reload; SIGHUP calls it too).
func (g *Gateway) Reload() ([]string, error) { return g.reload.Reload() }

// zoneCounts counts live connections per zone, every configured zone
// present (zero included) so that a series does not vanish when a zone
// empties. It walks the table: the metrics collector rate-limits it.
func (g *Gateway) zoneCounts() map[uint16]int {
	m := map[uint16]int{}
	for _, z := range g.reload.zones() {
		m[z] = 0
	}
	g.ct.Range(func(ci conntrack.ConnInfo) bool {
		m[ci.Orig.Zone]++
		return true
	})
	return m
}

// Close undoes New: sockets first (so nothing is redirected to a closing
// socket for long), then XDP detached, then the rest. Call it after Run
// returned.
func (g *Gateway) Close() error {
	var errs []error
	if g.off != nil {
		g.off.Close() // fast-path entries stay: pinned, they outlive us
	}
	if g.eng != nil {
		if err := g.eng.Close(); err != nil {
			errs = append(errs, err)
		}
		g.log.Debug("AF_XDP sockets closed")
	}
	for _, x := range g.xdp {
		if x.link != nil {
			if err := x.link.Close(); err != nil {
				errs = append(errs, fmt.Errorf("detach XDP from %s: %w", x.name, err))
			} else if x.pinned {
				g.log.Info("XDP left attached: the fast path keeps forwarding established flows until the next xgw takes over (xgw cleanup removes it)", "interface", x.name)
			} else {
				g.log.Info("XDP detached", "interface", x.name)
			}
		} else if x.adopted {
			g.log.Info("XDP left attached: the operator's program (adopt mode)", "interface", x.name)
		}
		if err := x.objs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release the XDP program of %s: %w", x.name, err))
		}
		g.log.Debug("XDP program released", "interface", x.name)
	}
	if g.garp != nil {
		g.garp.Close()
	}
	if g.neigh != nil {
		g.neigh.Close()
		g.log.Debug("neighbour mirror stopped")
	}
	return errors.Join(errs...)
}

// Stats implements control.Provider.
func (g *Gateway) Stats() (control.Stats, error) {
	s := control.Stats{
		Version:   g.version,
		Uptime:    time.Since(g.started).Seconds(),
		Pipeline:  control.PipelineStats(g.pipe.Stats()),
		Engine:    g.eng.Stats(),
		Conntrack: g.ct.Stats(),
		Ports:     g.eng.Ports(),
		Neighbors: g.neigh.Stats(),
		Workers:   workers(g.eng.Workers()),
		Config:    g.reload.state(),
		OVN:       g.ovnState(),
	}
	s.NATMappings = g.pipe.Mappings().Stats()
	if g.off != nil {
		os := g.off.Stats()
		s.Offload = &os
	}
	for _, x := range g.xdp {
		st, err := x.objs.Stats()
		if err != nil {
			return s, fmt.Errorf("XDP stats of %s: %w", x.name, err)
		}
		s.XDP = append(s.XDP, control.XDP{Interface: x.name, Stats: st})
	}
	return s, nil
}

// Registry is what /metrics serves.
func (g *Gateway) Registry() *prometheus.Registry { return g.registry }

// Conntrack implements control.Provider.
func (g *Gateway) Conntrack() control.Conntrack { return g.ct }

// Now implements control.Provider.
func (g *Gateway) Now() int64 { return g.clock() }

// DumpFlows implements control.FlowDumper.
func (g *Gateway) DumpFlows(w io.Writer, typ string) error {
	names := [flow.NumPorts]string{}
	names[flow.Underlay], names[flow.External] = g.ifnames[0], g.ifnames[1]
	return g.off.DumpFlows(w, offload.DumpOptions{Type: typ, Now: g.clock(), PortNames: names})
}

// workers is the engine's view of its threads in the /stats shape.
func workers(ws []engine.Worker) []control.Worker {
	out := make([]control.Worker, len(ws))
	for i, w := range ws {
		out[i] = control.Worker{Worker: w.Worker, TID: w.TID, BusySeconds: w.Busy.Seconds()}
	}
	return out
}

var (
	_ control.Provider   = (*Gateway)(nil)
	_ control.FlowDumper = (*Gateway)(nil)
	_ control.Reloader   = (*Gateway)(nil)
)

// mtus are the MTUs the pipeline holds packets to: the configured ones,
// else the interfaces' own (under is the underlay's). The XDP fast path
// checks the kernel's MTU itself, so a configured MTU above it changes
// nothing there; below it, software and fast path agree only once the
// interface's MTU is set to match (ip link set dev IF mtu N).
func mtus(c config.Interfaces, under *net.Interface) (underlay, external int, err error) {
	underlay, external = c.Underlay.MTU, c.External.MTU
	if underlay <= 0 {
		underlay = under.MTU
	}
	if external <= 0 {
		ext, err := net.InterfaceByName(c.External.Name)
		if err != nil {
			return 0, 0, fmt.Errorf("external interface: %w", err)
		}
		external = ext.MTU
	}
	return underlay, external, nil
}

// bothTables expires the IPv4 and the IPv6 connection tables together
// (engine.Expirer).
type bothTables struct {
	ct  *conntrack.Table
	ct6 *conntrack.Table6
}

// Expire implements engine.Expirer.
func (b bothTables) Expire(now int64) int { return b.ct.Expire(now) + b.ct6.Expire(now) }
