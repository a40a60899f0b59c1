package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

const (
	oldNAT66 = `external_ip: "2001:db8:5::100"`
	newNAT66 = `external_ip: "2001:db8:5::101"`
	// A second routed prefix, behind the same distributed router.
	routed6Line = `      - { prefix: "2001:db8:200::/64", nexthop: "fd00:16::2" }`
)

func prefixes(m map[netip.Prefix]bool) []string {
	var out []string
	for p := range m {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// snat6Conn is a VM's IPv6 connection SNATed (NAT66) to addr by gr1.
func snat6Conn(addr string) conntrack.ConnInfo6 {
	ip := func(s string) packet.IP6 { return netip.MustParseAddr(s).As16() }
	return conntrack.ConnInfo6{
		Orig:  conntrack.Tuple6{Src: ip("fd00:199:100::10"), Dst: ip("2001:db8:5::1"), SrcPort: 40000, DstPort: 5201, Proto: 6, Zone: 16},
		Reply: conntrack.Tuple6{Src: ip("2001:db8:5::1"), Dst: ip(addr), SrcPort: 5201, DstPort: 1024, Proto: 6, Zone: 16},
	}
}

// TestStartSteersDualStack: on start (programSteering, as attach and
// adopt call it) the NAT66 address is steered next to the IPv4 one, and
// the routed IPv6 prefix (no NAT rule covers it) too; the NAT66 inside
// prefix and the default route are not.
func TestStartSteersDualStack(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	if got, want := f.steered(), []string{"123.123.123.123", "2001:db8:5::100"}; !slices.Equal(got, want) {
		t.Fatalf("steered %v, want %v", got, want)
	}
	if fl := f.steer.flags[netip.MustParseAddr("2001:db8:5::100")]; fl != 0 {
		t.Fatalf("NAT66 address flags %d, want 0 (not the host's)", fl)
	}
	if got, want := prefixes(f.steer.routed), []string{"2001:db8:200::/64"}; !slices.Equal(got, want) {
		t.Fatalf("routed prefixes %v, want %v", got, want)
	}
}

// TestReloadRefusesHostNAT66: NAT66 to the router's own external IPv6 is
// refused (xdp_gw6 would leave its replies to the kernel), and the
// steering stays as it was.
func TestReloadRefusesHostNAT66(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	before := f.steered()
	f.write(t, oldNAT66+", port_range: 1024-65535", `external_ip: "2001:db8:5::230", port_range: 61000-65535`)
	if _, err := f.r.Reload(); err == nil || !strings.Contains(err.Error(), "NAT66 to a host-shared IPv6 address is not supported") {
		t.Fatalf("reload: %v, want refused", err)
	}
	if got := f.steered(); !slices.Equal(got, before) {
		t.Fatalf("a refused reload changed the steering: %v, was %v", got, before)
	}
}

// TestReloadNAT66Address: the life of an IPv4 NAT address for a NAT66
// one. The new address is steered before the swap; the old one drains
// while an IPv6 connection uses it, and goes (unrouted, then unsteered)
// once it ends.
func TestReloadNAT66Address(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	f.ct6.conns = []conntrack.ConnInfo6{snat6Conn("2001:db8:5::100")}
	f.write(t, oldNAT66, newNAT66)
	summary, err := f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*f.ev, ", "), "steer 2001:db8:5::101, swap"; got != want {
		t.Fatalf("events %q, want %q (steer the new address before the swap; keep the old one)", got, want)
	}
	old := netip.MustParseAddr("2001:db8:5::100").As16()
	if r, ok := f.pipe.topo.RouterByExternalIP6(old); !ok || r.Name != "gr1" {
		t.Fatalf("old NAT66 address not retained: %v %v", r, ok)
	}
	if got := f.steered(); !slices.Equal(got, []string{"123.123.123.123", "2001:db8:5::100", "2001:db8:5::101"}) {
		t.Fatalf("steered %v", got)
	}
	for _, w := range []string{
		"NAT address 2001:db8:5::100 (router gr1): draining, 1 connection(s)",
		"NAT address 2001:db8:5::101: steered to xgw",
	} {
		if !slices.ContainsFunc(summary, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("summary lacks %q:\n%s", w, strings.Join(summary, "\n"))
		}
	}
	if st := f.r.state(); !slices.Equal(st.DrainingNATAddrs, []string{"2001:db8:5::100"}) {
		t.Fatalf("draining %v", st.DrainingNATAddrs)
	}
	*f.ev = nil
	f.r.drain()
	if len(*f.ev) != 0 {
		t.Fatalf("drain with the connection alive: %v", *f.ev)
	}
	f.ct6.conns = nil
	f.r.drain()
	if got, want := strings.Join(*f.ev, ", "), "swap, unsteer 2001:db8:5::100"; got != want {
		t.Fatalf("drain events %q, want %q", got, want)
	}
	if _, ok := f.pipe.topo.RouterByExternalIP6(old); ok {
		t.Fatal("drained NAT66 address still routed")
	}

	// Unused, an old address goes right after the swap.
	*f.ev = nil
	f.write(t, oldNAT66, `external_ip: "2001:db8:5::102"`)
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*f.ev, ", "), "steer 2001:db8:5::102, swap, unsteer 2001:db8:5::101"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// TestReloadRoutedPrefix6: a routed prefix a reload adds is steered
// before the swap (the first reply already reaches xgw); one it drops is
// unsteered after it; a prefix that holds the host's external address is
// refused with a warning and not steered.
func TestReloadRoutedPrefix6(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	added := routed6Line + "\n" + strings.Replace(routed6Line, "2001:db8:200::", "2001:db8:300::", 1)
	f.write(t, routed6Line, added)
	summary, err := f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*f.ev, ", "), "steer-routed 2001:db8:300::/64, swap"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if !slices.Contains(summary, "routed IPv6 prefix 2001:db8:300::/64: steered to xgw") {
		t.Fatalf("summary:\n%s", strings.Join(summary, "\n"))
	}
	if got, want := prefixes(f.steer.routed), []string{"2001:db8:200::/64", "2001:db8:300::/64"}; !slices.Equal(got, want) {
		t.Fatalf("routed %v, want %v", got, want)
	}

	*f.ev = nil
	f.write(t, routed6Line, strings.Replace(routed6Line, "2001:db8:200::", "2001:db8:300::", 1))
	summary, err = f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*f.ev, ", "), "swap, unsteer-routed 2001:db8:200::/64"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if !slices.Contains(summary, "routed IPv6 prefix 2001:db8:200::/64: no longer steered to xgw") {
		t.Fatalf("summary:\n%s", strings.Join(summary, "\n"))
	}

	// Routed inside, a prefix around gr1-ext's 2001:db8:5::230 would
	// take the host's IPv6 into xgw.
	*f.ev = nil
	f.write(t, routed6Line, strings.Replace(routed6Line, "2001:db8:200::/64", "2001:db8::/32", 1))
	summary, err = f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if f.steer.routed[netip.MustParsePrefix("2001:db8::/32")] {
		t.Fatal("a prefix holding the host's address was steered")
	}
	if !slices.ContainsFunc(summary, func(s string) bool {
		return strings.HasPrefix(s, "WARNING: routed IPv6 prefix 2001:db8::/32 holds a router's external port address")
	}) {
		t.Fatalf("summary:\n%s", strings.Join(summary, "\n"))
	}
}

// TestReloadRoutedPrefixUnsteerRetried: a routed prefix the map refuses
// to remove is reported and tried again on the next reload, not
// forgotten while still steered.
func TestReloadRoutedPrefixUnsteerRetried(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	gone := strings.Replace(routed6Line, "2001:db8:200::", "2001:db8:300::", 1)
	f.steer.unrouteErr = fmt.Errorf("map busy")
	f.write(t, routed6Line, gone)
	summary, err := f.r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(summary, func(s string) bool {
		return strings.HasPrefix(s, "WARNING: routed IPv6 prefix 2001:db8:200::/64: could not stop steering it")
	}) {
		t.Fatalf("summary:\n%s", strings.Join(summary, "\n"))
	}
	f.steer.unrouteErr = nil
	*f.ev = nil
	f.write(t, routed6Line, gone+"\n") // the same topology: only the retry
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if f.steer.routed[netip.MustParsePrefix("2001:db8:200::/64")] {
		t.Fatalf("the prefix is still steered after the retry; events %v", *f.ev)
	}
}

// adoptedFake is an adopted program's maps: fakeSteer with listing.
type adoptedFake struct{ *fakeSteer }

func (a adoptedFake) NATAddrs() ([]netip.Addr, error) {
	var out []netip.Addr
	for x := range a.addrs {
		out = append(out, x)
	}
	return out, nil
}

func (a adoptedFake) RoutedPrefixes6() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for p := range a.routed {
		out = append(out, p)
	}
	return out, nil
}

// TestSyncSteeringAdopt: adopting pinned maps a previous xgw filled, the
// steering becomes exactly this configuration's, for both families and
// the routed prefixes.
func TestSyncSteeringAdopt(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	s := adoptedFake{&fakeSteer{ev: &events{}, addrs: map[netip.Addr]bool{
		netip.MustParseAddr("203.0.113.99"):    true,
		netip.MustParseAddr("2001:db8:5::99"):  true,
		netip.MustParseAddr("2001:db8:5::100"): true,
	}, routed: map[netip.Prefix]bool{netip.MustParsePrefix("2001:db8:999::/64"): true}}}
	if err := syncSteering(s, f.pipe.topo, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var got []string
	for a := range s.addrs {
		got = append(got, a.String())
	}
	slices.Sort(got)
	if want := []string{"123.123.123.123", "2001:db8:5::100"}; !slices.Equal(got, want) {
		t.Fatalf("NAT addresses %v, want %v", got, want)
	}
	if got, want := prefixes(s.routed), []string{"2001:db8:200::/64"}; !slices.Equal(got, want) {
		t.Fatalf("routed %v, want %v", got, want)
	}
}

// TestVTEP6Of: no IPv6 VTEP is an invalid address (the loader then
// steers no Geneve over IPv6), not ::.
func TestVTEP6Of(t *testing.T) {
	if a := vtep6Of(&route.Topology{}); a.IsValid() {
		t.Fatalf("no vtep_ip6: %v, want invalid", a)
	}
	v := netip.MustParseAddr("fd00:172:31::10")
	if a := vtep6Of(&route.Topology{VTEP6: v.As16()}); a != v {
		t.Fatalf("vtep6Of = %v, want %v", a, v)
	}
}

// TestVTEPsBothUnderlays: the fast path accepts Geneve from the IPv6
// chassis (xgw_vteps6) as from the IPv4 ones; without the IPv6 set every
// Geneve-over-IPv6 packet is punted as geneve-unknown-source.
func TestVTEPsBothUnderlays(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	v := &fakeVTEPs{ev: &events{}}
	if err := setVTEPs(v, f.pipe.topo); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(v.set, v.set6), "[172.31.1.21] [2001:db8:31::22]"; got != want {
		t.Fatalf("VTEPs %s, want %s", got, want)
	}
}
