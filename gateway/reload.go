package gateway

// Reload: SIGHUP, or `xgw reload` (POST /reload on the control socket),
// re-reads the file `xgw run` was started with.
//
// What applies live (new connections see it, existing ones keep going):
// chassis, switches and their ports, routers with their ports, routes and
// NAT rules, geneve.ttl and geneve.checksum. They all compile into one
// route.Topology that the pipeline swaps atomically (Pipeline.SetTopology).
// Existing connections keep the translation conntrack holds for them.
//
// The offload policy (offload.enabled, udp_oneway, udp_oneway_packets,
// udp_oneway_ms) applies live too: the manager withdraws every offloaded
// flow to software and judges each connection again under the new policy
// as its next packets arrive (offload.Manager.Reconfigure).
//
// What needs a restart (the file's value is ignored and the reload says
// so): interfaces (XDP programs and AF_XDP sockets are bound to them;
// the VTEPs, vtep_ip and vtep_ip6, are baked into the XDP program),
// geneve.port (likewise), conntrack (the table is allocated once, with
// its timeouts), control.socket and
// metrics.listen (already listening), offload.flows and offload.pin_path
// (the maps are created and pinned once), xdp (who attached the program).
//
// A file that does not load, validate or compile is refused as a whole:
// the running configuration stays, the problems are logged one per field
// and returned to `xgw reload`.
//
// Updating the file: write the new configuration to a temporary file in
// the same directory and rename(2) it over the old one (mv, or an editor
// that saves that way), then reload. The rename is atomic: a reload reads
// either the old file or the new one, never a half-written one, which an
// edit in place can give it (refused at best, a truncated but valid
// config applied at worst). The file must be a regular file of at most
// config.MaxFileSize (16 MiB); a FIFO, a device or a larger file is
// refused (config.ReadFile says why).
//
// A reload reads and compiles the file without holding anything the
// readers (/stats, /metrics) or the drain checks take; only the apply to
// the running state is under the lock (see reloader). A slow disk stalls
// that reload and the next one, nothing else.
//
// NAT addresses (what xdp_gw steers to AF_XDP on the external side), of
// either family (NAT66 addresses live as IPv4 ones do, their connections
// counted in the IPv6 table; steer.go):
//
//   - an address the new file adds is steered BEFORE the new topology is
//     swapped in, so the first reply to the first connection SNATed to it
//     already reaches xgw; after the swap it is announced with one
//     gratuitous ARP (garp.go), unless it is the host's own address;
//   - an address the new file drops is kept while conntrack still holds a
//     connection that uses it (reply destination = the address: SNAT; or
//     original destination = the address: DNAT): it stays steered, and
//     the topology keeps it classified as its router's
//     (route.Topology.RetainNATAddr) without any rule using it for new
//     connections. It is "draining". Every drainInterval the gateway looks
//     again; when the last connection is gone (closed or expired) the
//     address is unrouted first, then unsteered. Offloaded connections are
//     conntrack entries too, so they hold the address the same way.
//   - an address that moves to another router, or becomes a router port's
//     address, cannot be kept for its old router: its old connections are
//     in the old router's zones and break; the reload warns.
//
// Either way, a reload that removes the rules of an address that live
// connections use logs a warning naming the rules, the address and the
// number of connections.
//
// Routed IPv6 prefixes (route.Topology.RoutedPrefixes6, steered by
// xdp_gw's xgw_routed6) follow the same order without draining: a new
// one is steered before the swap, a dropped one unsteered after it (the
// new topology routes it nowhere inside, so the pipeline would hand its
// packets back anyway).

import (
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/offload"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// drainInterval is how often draining NAT addresses are checked.
const drainInterval = 5 * time.Second

// topologySetter swaps the pipeline's topology; *datapath.Pipeline is one.
type topologySetter interface {
	SetTopology(*route.Topology) error
}

// connRanger walks the connection table; *conntrack.Table is one.
type connRanger interface {
	Range(fn func(conntrack.ConnInfo) bool)
}

// connRanger6 walks the IPv6 connection table; *conntrack.Table6 is one.
type connRanger6 interface {
	Range(fn func(conntrack.ConnInfo6) bool)
}

// reloader owns the running configuration and everything a reload
// changes.
//
// Locking: reloadMu serialises whole reloads (SIGHUP and xgw reload),
// file read included, so that the file read last is the one that runs.
// Only Reload takes it. mu guards the running state (cfg, topo, steered,
// draining, the counters) while a reload diffs against it and applies the
// new configuration, and while drain retires addresses; it is never held
// across file I/O. Readers (state for /stats, zones for /metrics) take
// neither: they read view, a snapshot published under mu after every
// change. So a config path that hangs (a FIFO, a stuck disk) stalls that
// reload and the next one, and nothing else.
type reloader struct {
	reloadMu sync.Mutex
	mu       sync.Mutex
	view     atomic.Pointer[readerView]

	log  *slog.Logger
	path string
	load func(string) (*config.Config, error)
	// hostPorts reads the host's own ports (hostports.go).
	hostPorts func() (config.HostPorts, error)
	pipe      topologySetter
	ct        connRanger
	ct6       connRanger6 // nil: no IPv6 connections hold an address
	nat       []natSteering
	// offload applies a new offload policy; nil makes the policy
	// restart-only.
	offload func(config.Offload)
	// replan withdraws every offloaded flow to software, where its next
	// packet is planned again under the running topology (the offload
	// manager's Reset); nil: flows stay as offloaded. Called when a
	// change moves where offloaded flows go (replan.go).
	replan func()
	// vteps is the fast path's set of Geneve sources (vteps.go); nil: none.
	vteps vtepSetter
	// garp announces the NAT addresses a reload adds (garp.go); nil: none.
	garp announcer

	cfg      *config.Config
	topo     *route.Topology
	steered  map[netip.Addr]bool   // NAT addresses (both families) in every XDP program's list
	draining map[netip.Addr]string // dropped addresses kept for their connections -> router
	routed   []netip.Prefix        // routed IPv6 prefixes in every XDP program's list

	reloads, failures uint64
	lastReload        int64
	lastErr           string
}

// readerView is what the readers see of the running configuration.
type readerView struct {
	state control.ConfigState
	zones []uint16
}

// newReloader takes over a running configuration whose topology is in
// the pipeline and whose NAT addresses and routed prefixes are steered
// (programSteering). ct6 may be nil (no IPv6 table).
func newReloader(path string, cfg *config.Config, topo *route.Topology, pipe topologySetter, ct connRanger, ct6 connRanger6, nat []natSteering, log *slog.Logger) *reloader {
	r := &reloader{log: log, path: path, load: config.Load, hostPorts: readHostPorts, pipe: pipe, ct: ct, ct6: ct6, nat: nat,
		cfg: cfg, topo: topo, steered: map[netip.Addr]bool{}, draining: map[netip.Addr]string{}}
	for _, a := range natAddrs(topo) {
		r.steered[a] = true
	}
	r.routed, _ = routedPrefixes(topo)
	r.publish()
	return r
}

// publish makes the running state visible to the readers. Call it with mu
// held (or before the reloader is shared) after changing that state.
func (r *reloader) publish() {
	v := &readerView{state: control.ConfigState{File: r.path, Reloads: r.reloads, ReloadFailures: r.failures,
		LastReload: r.lastReload, LastError: r.lastErr, DrainingNATAddrs: []string{}}}
	for a := range r.draining {
		v.state.DrainingNATAddrs = append(v.state.DrainingNATAddrs, a.String())
	}
	slices.Sort(v.state.DrainingNATAddrs)
	for _, rt := range r.cfg.Routers {
		if rt.Zones.DNAT != 0 {
			v.zones = append(v.zones, rt.Zones.DNAT, rt.Zones.SNAT)
		}
	}
	r.view.Store(v)
}

// Reload implements control.Reloader: re-read the file and apply it, or
// refuse it and keep the running configuration.
func (r *reloader) Reload() ([]string, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.log.Info("reloading the configuration", "config", r.path)

	// Read, validate and compile without mu: this may wait on the file,
	// and nothing but the next reload may wait with it. r.cfg is stable
	// here: only a reload changes it, and reloadMu is ours.
	file, err := r.load(r.path)
	if err != nil {
		return nil, r.refuse(err)
	}
	summary, err := r.applyConfig(file, false)
	if err != nil {
		return nil, err
	}
	r.log.Info("configuration reloaded", "config", r.path, "changes", summary)
	return summary, nil
}

// ApplyConfig applies a configuration given as a value instead of read
// from the file: OVN mode's path for every database change (the ovn
// package translates the databases into a config.Config). It is a reload
// in every other way: the same checks, the same live/restart-only split,
// the same life of NAT addresses, serialised with file reloads.
func (r *reloader) ApplyConfig(cfg *config.Config) ([]string, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	return r.applyConfig(cfg, false)
}

// ApplyValidConfig is ApplyConfig for a cfg that has passed
// config.Validate as it is (OVN mode's translations): it is not
// validated again unless restart-only sections differ from the running
// ones (the running values are then put in, which Validate checks).
func (r *reloader) ApplyValidConfig(cfg *config.Config) ([]string, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	return r.applyConfig(cfg, true)
}

// applyConfig is Reload after the file is read; reloadMu is held. valid:
// file has passed config.Validate.
func (r *reloader) applyConfig(file *config.Config, valid bool) ([]string, error) {
	// A rule that SNATs to the host's address must leave its ports alone.
	if err := checkHostPorts(file, r.hostPorts); err != nil {
		return nil, r.refuse(err)
	}
	running := r.cfg
	cfg, restart := effective(running, file)
	policy := diffOffload(running.Offload, cfg.Offload)
	if policy != "" && r.offload == nil {
		cfg.Offload = running.Offload
		restart = append(restart, "offload policy")
		policy = ""
	}
	var topo *route.Topology
	if valid && len(restart) == 0 {
		topo = route.BuildValid(cfg) // cfg is file, unchanged
	} else {
		var err error
		if topo, err = route.Build(cfg); err != nil {
			return nil, r.refuse(err)
		}
	}
	summary, err := r.apply(cfg, topo, policy, diffLive(running, cfg))
	if err != nil {
		return nil, r.refuse(err)
	}
	for _, f := range restart {
		summary = append(summary, "not applied until restart: "+f+" changed")
	}
	return summary, nil
}

// apply diffs a loaded, compiled configuration against the running state
// and swaps it in, under mu. On an error nothing is changed.
func (r *reloader) apply(cfg *config.Config, topo *route.Topology, policy string, summary []string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	// Addresses the new rules drop: keep those that connections use.
	var dropped []netip.Addr
	newAddrs := natAddrs(topo)
	for a := range r.steered {
		if !slices.Contains(newAddrs, a) {
			dropped = append(dropped, a)
		}
	}
	slices.SortFunc(dropped, netip.Addr.Compare)
	used := r.inUse(dropped)
	draining := map[netip.Addr]string{}
	for _, ip := range dropped {
		if used[ip] == 0 {
			continue
		}
		owner, ok := natOwner(r.topo, ip)
		if ok && retainNATAddr(topo, ip, owner.Name) {
			draining[ip] = owner.Name
			summary = append(summary, fmt.Sprintf("NAT address %s (router %s): draining, %d connection(s) still use it; steered until they end, no new connection gets it", ip, owner.Name, used[ip]))
			r.warnRemoved(ip, used[ip], "draining: its connections keep their translation, no new connection gets it")
			continue
		}
		summary = append(summary, fmt.Sprintf("WARNING: NAT address %s is no longer its router's (router removed, or the address moved): its %d connection(s) will stop forwarding", ip, used[ip]))
		r.warnRemoved(ip, used[ip], "its connections stop forwarding: the address is no longer its router's (router removed, or the address moved)")
	}
	// With the draining ones retained: what stays steered.
	newAddrs = natAddrs(topo)

	// Steer new addresses and routed prefixes before the swap...
	var added []netip.Addr
	var addedRouted []netip.Prefix
	undo := func() {
		for _, a := range added {
			r.unsteer(a)
		}
		for _, p := range addedRouted {
			r.unsteerRouted(p)
		}
	}
	for _, ip := range newAddrs {
		if r.steered[ip] {
			continue
		}
		if err := r.steer(ip, natSteerOf(topo, ip)); err != nil {
			undo()
			return nil, fmt.Errorf("steer the new NAT address %s: %w", ip, err)
		}
		added = append(added, ip)
	}
	routed, refused := routedPrefixes(topo)
	for _, p := range routed {
		if slices.Contains(r.routed, p) {
			continue
		}
		if err := r.steerRouted(p); err != nil {
			r.unsteerRouted(p) // from the programs it did reach
			undo()
			return nil, fmt.Errorf("steer the new routed IPv6 prefix %s: %w", p, err)
		}
		addedRouted = append(addedRouted, p)
	}
	for _, p := range refused {
		summary = append(summary, fmt.Sprintf("WARNING: routed IPv6 prefix %s holds a router's external port address (the host's): not steered to xgw, its traffic stays the kernel's", p))
	}
	// ...and the kept ones that became, or stopped being, the host's
	// address (whose ARP the kernel answers) with their new flags. A
	// failure leaves the old flags: ARP for the address is then answered
	// by the wrong party (or lost after a redirect) until the next reload,
	// which is reported, not fatal.
	for _, ip := range newAddrs {
		if !r.steered[ip] || natSteerOf(r.topo, ip) == natSteerOf(topo, ip) {
			continue
		}
		if err := r.steer(ip, natSteerOf(topo, ip)); err != nil {
			r.log.Error("reload: update a NAT address's flags", "address", ip.String(), "err", err)
			summary = append(summary, fmt.Sprintf("WARNING: NAT address %s: ARP steering not updated: %v", ip, err))
		}
	}
	if err := r.pipe.SetTopology(topo); err != nil {
		undo()
		return nil, err
	}
	// ...and stop steering the unused old ones after it. A routed prefix
	// does not drain: the new topology does not route it inside, so its
	// packets would be the kernel's in the pipeline too.
	for _, ip := range dropped {
		if _, keep := draining[ip]; !keep {
			r.unsteer(ip)
		}
	}
	for _, p := range r.routed {
		if slices.Contains(routed, p) {
			continue
		}
		if !r.unsteerRouted(p) {
			// Still steered somewhere: kept in r.routed, so that the
			// next reload tries again.
			routed = append(routed, p)
			summary = append(summary, fmt.Sprintf("WARNING: routed IPv6 prefix %s: could not stop steering it to xgw (see the log); retried on the next reload", p))
			continue
		}
		summary = append(summary, fmt.Sprintf("routed IPv6 prefix %s: no longer steered to xgw", p))
	}

	// The fast path takes Geneve from the new chassis set (vteps.go).
	summary = append(summary, r.syncVTEPs(topo)...)
	// Offloaded flows carry their output (a VM's chassis, a next hop):
	// re-plan them when that may have moved (replan.go).
	if why := moved(r.cfg, cfg); why != "" && r.replan != nil && policy == "" {
		r.replan()
		summary = append(summary, "offloaded flows back in software to be re-planned: "+why)
	}

	for _, ip := range added {
		summary = append(summary, fmt.Sprintf("NAT address %s: steered to xgw", ip))
	}
	for _, p := range addedRouted {
		summary = append(summary, fmt.Sprintf("routed IPv6 prefix %s: steered to xgw", p))
	}
	// The upstream network learns the new addresses (garp.go).
	r.announce(topo, added)
	if policy != "" {
		r.offload(cfg.Offload)
		what := "offloaded flows are back in software until the new policy promotes them"
		if !cfg.Offload.Enabled {
			what = "offloaded flows are back in software, where they stay"
		}
		summary = append(summary, "offload policy: "+policy+"; "+what)
	}
	r.cfg, r.topo, r.draining, r.routed = cfg, topo, draining, routed
	r.steered = map[netip.Addr]bool{}
	for _, a := range newAddrs {
		r.steered[a] = true
	}
	r.reloads++
	r.lastReload = time.Now().Unix()
	r.lastErr = ""
	r.publish()
	if len(summary) == 0 {
		summary = append(summary, "no change that applies live")
	}
	return summary, nil
}

// warnRemoved logs that a reload removes the NAT rules of ip while n
// connections still use it, naming the rules (from the running, old
// configuration: no rule of the new one uses ip) and what becomes of the
// connections. Call it with mu held, before r.cfg is replaced.
func (r *reloader) warnRemoved(ip netip.Addr, n int, outcome string) {
	var rules []string
	for _, rt := range r.cfg.Routers {
		for _, x := range rt.NAT {
			if x.ExternalIP.Value() == ip {
				rules = append(rules, "router "+rt.Name+": "+natString(x))
			}
		}
	}
	r.log.Warn("reload removes a NAT rule that still has live connections",
		"address", ip.String(), "rules", rules, "connections", n, "outcome", outcome)
}

// refuse records and logs a refused reload; the returned error lists the
// problems one per line, each naming its field.
func (r *reloader) refuse(err error) error {
	lines := ProblemLines(err)
	for i, l := range lines { // config.Load names the path too: once is enough
		lines[i] = strings.TrimPrefix(l, r.path+": ")
	}
	r.mu.Lock()
	r.failures++
	r.lastErr = strings.Join(lines, "; ")
	r.publish()
	r.mu.Unlock()
	r.log.Error("reload refused; the running configuration stays", "config", r.path, "problems", lines)
	return fmt.Errorf("%s: %s", r.path, strings.Join(lines, "\n"))
}

// drain stops routing and steering draining addresses that no connection
// uses any more. It is called every drainInterval.
func (r *reloader) drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.draining) == 0 {
		return
	}
	ips := make([]netip.Addr, 0, len(r.draining))
	for ip := range r.draining {
		ips = append(ips, ip)
	}
	used := r.inUse(ips)
	var done []netip.Addr
	for _, ip := range ips {
		if used[ip] == 0 {
			done = append(done, ip)
		}
	}
	if len(done) == 0 {
		return
	}
	topo, err := route.Build(r.cfg)
	if err != nil { // it built a moment ago; only a bug gets here
		r.log.Error("drain: rebuild the topology", "err", err)
		return
	}
	for ip, router := range r.draining {
		if !slices.Contains(done, ip) {
			retainNATAddr(topo, ip, router)
		}
	}
	if err := r.pipe.SetTopology(topo); err != nil {
		r.log.Error("drain: swap the topology", "err", err)
		return
	}
	r.topo = topo
	for _, ip := range done {
		r.unsteer(ip)
		delete(r.steered, ip)
		delete(r.draining, ip)
		r.log.Info("NAT address drained: its last connection is gone; no longer steered", "address", ip.String())
	}
	r.publish()
}

// inUse counts, per address of ips, the connections that use it: as the
// reply destination (SNATed to it) or the original destination (DNATed
// from it). One walk of each family's table that has an address in ips,
// done on reload and drain checks only.
func (r *reloader) inUse(ips []netip.Addr) map[netip.Addr]int {
	n := map[netip.Addr]int{}
	var v4 []packet.IP4
	var v6 []packet.IP6
	for _, a := range ips {
		if a.Is4() {
			v4 = append(v4, packet.IP4(a.As4()))
		} else {
			v6 = append(v6, a.As16())
		}
	}
	if len(v4) > 0 {
		r.ct.Range(func(ci conntrack.ConnInfo) bool {
			if slices.Contains(v4, ci.Reply.Dst) {
				n[ci.Reply.Dst.Addr()]++
			} else if slices.Contains(v4, ci.Orig.Dst) {
				n[ci.Orig.Dst.Addr()]++
			}
			return true
		})
	}
	if len(v6) > 0 && r.ct6 != nil {
		r.ct6.Range(func(ci conntrack.ConnInfo6) bool {
			if slices.Contains(v6, ci.Reply.Dst) {
				n[ci.Reply.Dst.Addr()]++
			} else if slices.Contains(v6, ci.Orig.Dst) {
				n[ci.Orig.Dst.Addr()]++
			}
			return true
		})
	}
	return n
}

func (r *reloader) steer(ip netip.Addr, s natSteer) error {
	for _, x := range r.nat {
		if err := s.program(x, ip); err != nil {
			return err
		}
	}
	return nil
}

// unsteer removes ip from every XDP program; a failure leaves it steered,
// which is harmless (the pipeline drops or passes what it does not own).
func (r *reloader) unsteer(ip netip.Addr) {
	for _, x := range r.nat {
		if err := x.RemoveNATAddr(ip); err != nil {
			r.log.Warn("stop steering a NAT address", "address", ip.String(), "err", err)
		}
	}
}

func (r *reloader) steerRouted(p netip.Prefix) error {
	for _, x := range r.nat {
		if err := x.SetRoutedPrefix6(p); err != nil {
			return err
		}
	}
	return nil
}

// unsteerRouted removes p from every XDP program and reports whether it
// did; a failure leaves it steered, which costs the kernel the prefix's
// traffic (the pipeline has no router for it any more), and is logged.
func (r *reloader) unsteerRouted(p netip.Prefix) bool {
	ok := true
	for _, x := range r.nat {
		if err := x.RemoveRoutedPrefix6(p); err != nil {
			r.log.Warn("stop steering a routed IPv6 prefix", "prefix", p.String(), "err", err)
			ok = false
		}
	}
	return ok
}

// state is the /stats view of the running configuration. It takes no
// lock: it never waits for a reload.
func (r *reloader) state() control.ConfigState {
	s := r.view.Load().state
	s.DrainingNATAddrs = slices.Clone(s.DrainingNATAddrs)
	return s
}

// zones are the conntrack zones of the running configuration. It takes
// no lock: it never waits for a reload.
func (r *reloader) zones() []uint16 {
	return slices.Clone(r.view.Load().zones)
}

// effective is the file's configuration with the running values of what
// only a restart can change, and the paths of those that differ.
func effective(running, file *config.Config) (*config.Config, []string) {
	c := *file
	var restart []string
	keep := func(path string, dst, src any) {
		d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
		if !reflect.DeepEqual(d.Interface(), s.Interface()) {
			restart = append(restart, path)
			d.Set(s)
		}
	}
	keep("interfaces", &c.Interfaces, &running.Interfaces)
	keep("geneve.port", &c.Geneve.Port, &running.Geneve.Port)
	keep("conntrack", &c.Conntrack, &running.Conntrack)
	keep("control.socket", &c.Control, &running.Control)
	keep("metrics.listen", &c.Metrics, &running.Metrics)
	keep("offload.flows", &c.Offload.Flows, &running.Offload.Flows)
	keep("offload.pin_path", &c.Offload.PinPath, &running.Offload.PinPath)
	keep("xdp", &c.XDP, &running.XDP)
	keep("afxdp", &c.AFXDP, &running.AFXDP)
	return &c, restart
}

// diffOffload describes what changes in the offload policy, "" if
// nothing does. It compares the policies the manager would run (absent
// values filled with its defaults), so spelling a default out withdraws
// nothing.
func diffOffload(old, new config.Offload) string {
	o, n := offload.FromConfig(old).WithDefaults(), offload.FromConfig(new).WithDefaults()
	var out []string
	if o.Enabled != n.Enabled {
		out = append(out, fmt.Sprintf("enabled %v -> %v", o.Enabled, n.Enabled))
	}
	if o.UDPOnewayOff != n.UDPOnewayOff {
		out = append(out, fmt.Sprintf("udp_oneway %v -> %v", !o.UDPOnewayOff, !n.UDPOnewayOff))
	}
	if o.UDPOnewayPackets != n.UDPOnewayPackets {
		out = append(out, fmt.Sprintf("udp_oneway_packets %d -> %d", o.UDPOnewayPackets, n.UDPOnewayPackets))
	}
	if o.UDPOnewayAfter != n.UDPOnewayAfter {
		out = append(out, fmt.Sprintf("udp_oneway_ms %d -> %d", o.UDPOnewayAfter.Milliseconds(), n.UDPOnewayAfter.Milliseconds()))
	}
	return strings.Join(out, ", ")
}

// diffLive describes, one line per change, what a reload from old to new
// changes among the settings that apply live.
func diffLive(old, new *config.Config) []string {
	var out []string
	if old.Geneve.TTL != new.Geneve.TTL {
		out = append(out, fmt.Sprintf("geneve.ttl: %d -> %d", old.Geneve.TTL, new.Geneve.TTL))
	}
	if old.Geneve.ChecksumEnabled() != new.Geneve.ChecksumEnabled() {
		out = append(out, fmt.Sprintf("geneve.checksum: %v -> %v", old.Geneve.ChecksumEnabled(), new.Geneve.ChecksumEnabled()))
	}
	out = append(out, diffNamed("chassis", old.Chassis, new.Chassis, func(c config.Chassis) string { return c.Name })...)
	out = append(out, diffNamed("switch", old.Switches, new.Switches, func(s config.Switch) string { return s.Name })...)
	byName := func(rs []config.Router) map[string]config.Router {
		m := map[string]config.Router{}
		for _, r := range rs {
			m[r.Name] = r
		}
		return m
	}
	olds, news := byName(old.Routers), byName(new.Routers)
	for _, r := range new.Routers {
		o, ok := olds[r.Name]
		switch {
		case !ok:
			out = append(out, "router "+r.Name+": added")
		case !reflect.DeepEqual(o, r):
			out = append(out, diffRouter(o, r)...)
		}
	}
	for _, r := range old.Routers {
		if _, ok := news[r.Name]; !ok {
			out = append(out, "router "+r.Name+": removed")
		}
	}
	return out
}

// diffNamed reports added, removed and changed elements of a list keyed
// by name.
func diffNamed[T any](kind string, old, new []T, name func(T) string) []string {
	var out []string
	olds := map[string]T{}
	for _, o := range old {
		olds[name(o)] = o
	}
	seen := map[string]bool{}
	for _, n := range new {
		seen[name(n)] = true
		o, ok := olds[name(n)]
		switch {
		case !ok:
			out = append(out, kind+" "+name(n)+": added")
		case !reflect.DeepEqual(o, n):
			out = append(out, kind+" "+name(n)+": changed")
		}
	}
	for _, o := range old {
		if !seen[name(o)] {
			out = append(out, kind+" "+name(o)+": removed")
		}
	}
	return out
}

func diffRouter(o, n config.Router) []string {
	p := "router " + n.Name + ": "
	var out []string
	if o.Zones != n.Zones {
		out = append(out, fmt.Sprintf("%szones dnat %d snat %d -> dnat %d snat %d: WARNING: its existing connections are in the old zones and will not match any more",
			p, o.Zones.DNAT, o.Zones.SNAT, n.Zones.DNAT, n.Zones.SNAT))
	}
	if !reflect.DeepEqual(o.Ports, n.Ports) || o.Distributed != n.Distributed {
		out = append(out, p+"ports changed")
	}
	routeStr := func(r config.Route) string { return fmt.Sprintf("route %s via %s", r.Prefix, r.NextHop) }
	out = append(out, diffSet(p, mapSlice(o.Routes, routeStr), mapSlice(n.Routes, routeStr))...)
	out = append(out, diffSet(p, mapSlice(o.NAT, natString), mapSlice(n.NAT, natString))...)
	return out
}

// natString names a NAT rule as reload summaries and warnings do.
func natString(x config.NAT) string {
	s := fmt.Sprintf("nat %s %s -> %s", x.Type, x.LogicalIP, x.ExternalIP)
	if x.PortRange != "" {
		s += " ports " + string(x.PortRange)
	}
	return s
}

func mapSlice[T any](s []T, f func(T) string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = f(x)
	}
	return out
}

// diffSet reports lines only in old (removed) and only in new (added).
func diffSet(prefix string, old, new []string) []string {
	var out []string
	for _, s := range old {
		if !slices.Contains(new, s) {
			out = append(out, prefix+s+" removed")
		}
	}
	for _, s := range new {
		if !slices.Contains(old, s) {
			out = append(out, prefix+s+" added")
		}
	}
	return out
}

var _ control.Reloader = (*reloader)(nil)
