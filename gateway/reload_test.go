package gateway

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// events is the order in which the reloader touched the fakes.
type events []string

// fakePipe records topology swaps.
type fakePipe struct {
	ev   *events
	topo *route.Topology
}

func (p *fakePipe) SetTopology(t *route.Topology) error {
	*p.ev = append(*p.ev, "swap")
	p.topo = t
	return nil
}

// fakeSteer is one XDP program's NAT address list.
type fakeSteer struct {
	ev    *events
	addrs map[netip.Addr]bool
	flags map[netip.Addr]bpf.NATFlags
	ports map[netip.Addr][2]uint16 // host port ranges
	// routed IPv6 prefixes
	routed map[netip.Prefix]bool
	// unrouteErr fails RemoveRoutedPrefix6
	unrouteErr error
}

func (s *fakeSteer) SetNATAddr(a netip.Addr, f bpf.NATFlags) error {
	if s.addrs[a] {
		*s.ev = append(*s.ev, fmt.Sprintf("flags %s %d", a, f))
	} else {
		*s.ev = append(*s.ev, "steer "+a.String())
	}
	s.addrs[a] = true
	if s.flags == nil {
		s.flags = map[netip.Addr]bpf.NATFlags{}
	}
	s.flags[a] = f
	return nil
}

func (s *fakeSteer) RemoveNATAddr(a netip.Addr) error {
	*s.ev = append(*s.ev, "unsteer "+a.String())
	delete(s.addrs, a)
	delete(s.flags, a)
	delete(s.ports, a)
	return nil
}

func (s *fakeSteer) SetHostPorts(a netip.Addr, lo, hi uint16) error {
	if s.ports == nil {
		s.ports = map[netip.Addr][2]uint16{}
	}
	s.ports[a] = [2]uint16{lo, hi}
	return nil
}

func (s *fakeSteer) RemoveHostPorts(a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("host NAT address %s is not IPv4", a) // as bpf's
	}
	delete(s.ports, a)
	return nil
}

func (s *fakeSteer) SetRoutedPrefix6(p netip.Prefix) error {
	if s.routed == nil {
		s.routed = map[netip.Prefix]bool{}
	}
	if !s.routed[p] {
		*s.ev = append(*s.ev, "steer-routed "+p.String())
	}
	s.routed[p] = true
	return nil
}

func (s *fakeSteer) RemoveRoutedPrefix6(p netip.Prefix) error {
	*s.ev = append(*s.ev, "unsteer-routed "+p.String())
	if s.unrouteErr != nil {
		return s.unrouteErr
	}
	delete(s.routed, p)
	return nil
}

// fakeCT holds connections for inUse.
type fakeCT struct{ conns []conntrack.ConnInfo }

func (c *fakeCT) Range(fn func(conntrack.ConnInfo) bool) {
	for _, ci := range c.conns {
		if !fn(ci) {
			return
		}
	}
}

// fakeCT6 holds IPv6 connections for inUse.
type fakeCT6 struct{ conns []conntrack.ConnInfo6 }

func (c *fakeCT6) Range(fn func(conntrack.ConnInfo6) bool) {
	for _, ci := range c.conns {
		if !fn(ci) {
			return
		}
	}
}

// snatConn is a VM's connection SNATed to addr, in zone 16.
func snatConn(addr string) conntrack.ConnInfo {
	return conntrack.ConnInfo{
		Orig:  conntrack.Tuple{Src: packet.MustIP4("10.199.100.10"), Dst: packet.MustIP4("198.51.100.2"), SrcPort: 40000, DstPort: 5201, Proto: 6, Zone: 16},
		Reply: conntrack.Tuple{Src: packet.MustIP4("198.51.100.2"), Dst: packet.MustIP4(addr), SrcPort: 5201, DstPort: 1024, Proto: 6, Zone: 16},
	}
}

type reloadFixture struct {
	path  string
	base  string
	r     *reloader
	pipe  *fakePipe
	steer *fakeSteer
	ct    *fakeCT
	ct6   *fakeCT6
	ev    *events
	logs  *bytes.Buffer
}

// newFixture starts a reloader on examples/lab.yaml, as New would.
func newFixture(t *testing.T) *reloadFixture { return newFixtureFrom(t, "lab.yaml") }

// newFixtureFrom starts a reloader on examples/<example>, its steering
// programmed as New programs it (programSteering).
func newFixtureFrom(t *testing.T, example string) *reloadFixture {
	t.Helper()
	base, err := os.ReadFile("../examples/" + example)
	if err != nil {
		t.Fatal(err)
	}
	f := &reloadFixture{path: filepath.Join(t.TempDir(), "xgw.yaml"), base: string(base), ev: &events{}, logs: &bytes.Buffer{},
		ct: &fakeCT{}, ct6: &fakeCT6{}}
	f.write(t, "", "")
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := route.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.pipe = &fakePipe{ev: f.ev, topo: topo}
	f.steer = &fakeSteer{ev: &events{}, addrs: map[netip.Addr]bool{}}
	if _, err := programSteering(f.steer, topo); err != nil {
		t.Fatal(err)
	}
	f.steer.ev = f.ev // what start did is not the reload's
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.r = newReloader(f.path, cfg, topo, f.pipe, f.ct, f.ct6, []natSteering{f.steer}, log)
	// Linux's defaults and no listener: what this machine's namespace
	// holds must not decide these tests (hostports_test.go reads it).
	f.r.hostPorts = func() (config.HostPorts, error) {
		return config.HostPorts{EphemeralMin: 32768, EphemeralMax: 60999}, nil
	}
	return f
}

// write rewrites the file: the lab config with old replaced by new.
func (f *reloadFixture) write(t *testing.T, old, new string) {
	t.Helper()
	s := f.base
	if old != "" {
		if !strings.Contains(s, old) {
			t.Fatalf("lab.yaml has no %q", old)
		}
		s = strings.Replace(s, old, new, 1)
	}
	if err := os.WriteFile(f.path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *reloadFixture) steered() []string {
	var out []string
	for a := range f.steer.addrs {
		out = append(out, a.String())
	}
	slices.Sort(out)
	return out
}

const (
	oldSNAT = "external_ip: 203.0.113.10"
	newSNAT = "external_ip: 203.0.113.11"
)

// TestReloadNewSNATAddress: the case. A connection uses the old
// address; the new one is steered before the swap, the old one drains.
func TestReloadNewSNATAddress(t *testing.T) {
	f := newFixture(t)
	f.ct.conns = []conntrack.ConnInfo{snatConn("203.0.113.10")}
	old := f.pipe.topo
	f.write(t, oldSNAT, newSNAT)
	summary, err := f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary:\n%s", strings.Join(summary, "\n"))
	if got, want := strings.Join(*f.ev, ", "), "steer 203.0.113.11, swap"; got != want {
		t.Fatalf("events %q, want %q (steer the new address before the swap; keep the old one)", got, want)
	}
	topo := f.pipe.topo
	if topo == old {
		t.Fatal("topology not swapped")
	}
	gr, _ := topo.RouterByName("gr1")
	if rules := gr.NATRules(); len(rules) != 1 || rules[0].External != packet.MustIP4("203.0.113.11") {
		t.Fatalf("gr1 rules after reload: %+v", rules)
	}
	// Replies to the old address still find gr1 (and so zone 16).
	if r, ok := topo.RouterByExternalIP(packet.MustIP4("203.0.113.10")); !ok || r.Name != "gr1" {
		t.Fatalf("old SNAT address not retained: %v %v", r, ok)
	}
	if got := f.steered(); !slices.Equal(got, []string{"203.0.113.10", "203.0.113.11"}) {
		t.Fatalf("steered %v", got)
	}
	for _, w := range []string{
		"router gr1: nat snat 10.199.100.0/24 -> 203.0.113.10 ports 1024-65535 removed",
		"router gr1: nat snat 10.199.100.0/24 -> 203.0.113.11 ports 1024-65535 added",
		"NAT address 203.0.113.10 (router gr1): draining, 1 connection(s)",
		"NAT address 203.0.113.11: steered to xgw",
	} {
		if !slices.ContainsFunc(summary, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("summary lacks %q", w)
		}
	}
	st := f.r.state()
	if st.Reloads != 1 || !slices.Equal(st.DrainingNATAddrs, []string{"203.0.113.10"}) {
		t.Fatalf("state %+v", st)
	}

	// While the connection lives, drain changes nothing.
	*f.ev = nil
	f.r.drain()
	if len(*f.ev) != 0 {
		t.Fatalf("drain with the connection alive: %v", *f.ev)
	}
	// It ends: unroute first, then unsteer.
	f.ct.conns = nil
	f.r.drain()
	if got, want := strings.Join(*f.ev, ", "), "swap, unsteer 203.0.113.10"; got != want {
		t.Fatalf("drain events %q, want %q", got, want)
	}
	if _, ok := f.pipe.topo.RouterByExternalIP(packet.MustIP4("203.0.113.10")); ok {
		t.Fatal("drained address still routed")
	}
	if st := f.r.state(); len(st.DrainingNATAddrs) != 0 {
		t.Fatalf("still draining: %v", st.DrainingNATAddrs)
	}
	if !strings.Contains(f.logs.String(), `"msg":"NAT address drained`) {
		t.Errorf("no drain log:\n%s", f.logs)
	}
}

// TestReloadUnusedAddressGoesAtOnce: no connection uses the old address,
// so it is unsteered right after the swap.
func TestReloadUnusedAddressGoesAtOnce(t *testing.T) {
	f := newFixture(t)
	f.write(t, oldSNAT, newSNAT)
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*f.ev, ", "), "steer 203.0.113.11, swap, unsteer 203.0.113.10"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if _, ok := f.pipe.topo.RouterByExternalIP(packet.MustIP4("203.0.113.10")); ok {
		t.Fatal("unused old address still routed")
	}
}

// TestReloadInvalidKeepsRunning: a broken file changes nothing, and the
// error and the log name the field.
func TestReloadInvalidKeepsRunning(t *testing.T) {
	f := newFixture(t)
	old := f.pipe.topo
	f.write(t, oldSNAT, "external_ip: 203.0.113")
	_, err := f.r.Reload()
	const field = `routers[1].nat[0].external_ip: "203.0.113" is not an IPv4 address`
	if err == nil || !strings.Contains(err.Error(), field) {
		t.Fatalf("err = %v, want it to name %s", err, field)
	}
	if len(*f.ev) != 0 || f.pipe.topo != old {
		t.Fatalf("a refused reload touched the gateway: %v", *f.ev)
	}
	if got := f.steered(); !slices.Equal(got, []string{"203.0.113.10"}) {
		t.Fatalf("steered %v", got)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "reload refused; the running configuration stays") || !strings.Contains(logs, "routers[1].nat[0].external_ip") {
		t.Fatalf("log does not say why:\n%s", logs)
	}
	if st := f.r.state(); st.ReloadFailures != 1 || st.Reloads != 0 || !strings.Contains(st.LastError, "routers[1].nat[0].external_ip") {
		t.Fatalf("state %+v", st)
	}
	// A cross-reference error is refused the same way.
	f.write(t, "nexthop: 198.51.100.2", "nexthop: 10.9.9.9")
	if _, err := f.r.Reload(); err == nil || !strings.Contains(err.Error(), "routers[1].routes[1].nexthop") {
		t.Fatalf("bad next hop: %v", err)
	}
	// The running config is still the original: reloading the original
	// file changes nothing.
	f.write(t, "", "")
	summary, err := f.r.Reload()
	if err != nil || !slices.Equal(summary, []string{"no change that applies live"}) {
		t.Fatalf("reload of the unchanged file: %v %v", summary, err)
	}
}

// TestReloadRestartOnly: fields bound at start are reported and ignored;
// the live ones in the same file apply.
func TestReloadRestartOnly(t *testing.T) {
	f := newFixture(t)
	f.base = strings.Replace(f.base, "geneve: { port: 6081, checksum: true, ttl: 64 }", "geneve: { port: 6082, checksum: true, ttl: 32 }", 1)
	f.write(t, "", "")
	summary, err := f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(summary, "\n")
	if !strings.Contains(joined, "geneve.ttl: 64 -> 32") || !strings.Contains(joined, "not applied until restart: geneve.port changed") {
		t.Fatalf("summary:\n%s", joined)
	}
	if f.pipe.topo.GenevePort != 6081 || f.pipe.topo.GeneveTTL != 32 {
		t.Fatalf("topology port %d ttl %d, want 6081 (restart-only) and 32 (live)", f.pipe.topo.GenevePort, f.pipe.topo.GeneveTTL)
	}
}

// TestEffective lists every restart-only section.
func TestEffective(t *testing.T) {
	run := &config.Config{}
	file := &config.Config{}
	file.Interfaces.External.Name = "eth9"
	file.Conntrack.Capacity = 5
	file.Control.Socket = "/x"
	file.Metrics.Listen = "off"
	file.Offload.Enabled = true // the policy applies live
	file.Offload.Flows = 1024
	file.Offload.PinPath = "none"
	c, restart := effective(run, file)
	if want := []string{"interfaces", "conntrack", "control.socket", "metrics.listen", "offload.flows", "offload.pin_path"}; !slices.Equal(restart, want) {
		t.Fatalf("restart = %v, want %v", restart, want)
	}
	if fmt.Sprint(c.Interfaces, c.Conntrack.Capacity, c.Control, c.Metrics, c.Offload.Flows, c.Offload.PinPath) != fmt.Sprint(run.Interfaces, 0, run.Control, run.Metrics, 0, "") {
		t.Fatalf("effective kept the file's restart-only values: %+v", c)
	}
	if !c.Offload.Enabled {
		t.Fatal("effective dropped the file's offload policy")
	}
}

// TestReloadOffloadPolicy: the offload policy applies live through the
// manager; the map's size and pin path wait for a restart; without a
// manager to apply it, the policy waits too.
func TestReloadOffloadPolicy(t *testing.T) {
	f := newFixture(t)
	var applied []config.Offload
	f.r.offload = func(o config.Offload) { applied = append(applied, o) }
	f.write(t, "offload: { enabled: true }", "offload: { enabled: true, udp_oneway: false, udp_oneway_packets: 8 }")
	summary, err := f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(summary, "\n")
	if len(applied) != 1 || applied[0].OnewayEnabled() || applied[0].UDPOnewayPackets != 8 || !applied[0].Enabled {
		t.Fatalf("applied %+v", applied)
	}
	if !strings.Contains(joined, "offload policy: udp_oneway true -> false, udp_oneway_packets 32 -> 8") {
		t.Fatalf("summary:\n%s", joined)
	}
	// The same policy again: nothing to apply. A new map size: restart.
	f.write(t, "offload: { enabled: true }", "offload: { enabled: true, udp_oneway: false, udp_oneway_packets: 8, flows: 4096 }")
	summary, err = f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	joined = strings.Join(summary, "\n")
	if len(applied) != 1 || !strings.Contains(joined, "not applied until restart: offload.flows changed") || strings.Contains(joined, "offload policy") {
		t.Fatalf("applied %d times; summary:\n%s", len(applied), joined)
	}
	// A default spelled out is no change.
	f.write(t, "offload: { enabled: true }", "offload: { enabled: true, udp_oneway: false, udp_oneway_packets: 8, udp_oneway_ms: 100 }")
	if _, err := f.r.Reload(); err != nil || len(applied) != 1 {
		t.Fatalf("the explicit default was applied as a change: %d %v", len(applied), err)
	}
	// Turned off.
	f.write(t, "offload: { enabled: true }", "offload: { enabled: false, udp_oneway: false, udp_oneway_packets: 8 }")
	summary, err = f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 || applied[1].Enabled {
		t.Fatalf("applied %+v", applied)
	}
	if joined := strings.Join(summary, "\n"); !strings.Contains(joined, "enabled true -> false; offloaded flows are back in software, where they stay") {
		t.Fatalf("summary:\n%s", joined)
	}
	// No manager: the policy is restart-only and the running one stays.
	f.r.offload = nil
	f.write(t, "", "")
	summary, err = f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if joined := strings.Join(summary, "\n"); !strings.Contains(joined, "not applied until restart: offload policy changed") || f.r.cfg.Offload.Enabled {
		t.Fatalf("enabled %v; summary:\n%s", f.r.cfg.Offload.Enabled, joined)
	}
}

// fakeVTEPs is the fast path's set of Geneve sources.
type fakeVTEPs struct {
	ev   *events
	set  []packet.IP4
	set6 []packet.IP6
	err  error
}

func (v *fakeVTEPs) SetVTEPs6(ips []packet.IP6) error {
	if len(ips) > 0 || len(v.set6) > 0 {
		*v.ev = append(*v.ev, fmt.Sprintf("vteps6 %v", ips))
	}
	v.set6 = slices.Clone(ips)
	return nil
}

func (v *fakeVTEPs) SetVTEPs(ips []packet.IP4) error {
	*v.ev = append(*v.ev, fmt.Sprintf("vteps %v", ips))
	if v.err != nil {
		return v.err
	}
	v.set = slices.Clone(ips)
	return nil
}

// TestReloadChassisVTEPs: a reload makes the fast path's VTEP set the new
// topology's chassis, after the swap; a refused reload leaves it; a
// failure to program it is reported, not fatal (software handles what the
// set refuses).
func TestReloadChassisVTEPs(t *testing.T) {
	f := newFixture(t)
	v := &fakeVTEPs{ev: f.ev}
	f.r.vteps = v
	const hv = "{ name: hv, ip: 192.0.2.2 }"
	f.write(t, hv, hv+"\n  - { name: hv2, ip: 192.0.2.3 }")
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*f.ev, ", "), "swap, vteps [192.0.2.2 192.0.2.3]"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}

	// Refused: the set stays.
	*f.ev = nil
	f.write(t, oldSNAT, "external_ip: 203.0.113")
	if _, err := f.r.Reload(); err == nil {
		t.Fatal("a broken file was accepted")
	}
	if len(*f.ev) != 0 || !slices.Equal(v.set, []packet.IP4{packet.MustIP4("192.0.2.2"), packet.MustIP4("192.0.2.3")}) {
		t.Fatalf("a refused reload touched the VTEPs: %v, set %v", *f.ev, v.set)
	}

	// The chassis goes again; the map refuses: the reload still applies.
	*f.ev = nil
	v.err = fmt.Errorf("map full")
	f.write(t, "", "")
	summary, err := f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*f.ev, ", "), "swap, vteps [192.0.2.2]"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if !slices.ContainsFunc(summary, func(s string) bool { return strings.HasPrefix(s, "WARNING: ") && strings.Contains(s, "map full") }) {
		t.Fatalf("summary does not report the failure:\n%s", strings.Join(summary, "\n"))
	}
	if len(f.pipe.topo.Chassis) != 1 {
		t.Fatalf("topology not swapped: %d chassis", len(f.pipe.topo.Chassis))
	}
}
