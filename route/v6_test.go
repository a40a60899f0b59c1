package route

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

func ip6(s string) IP6 { return netip.MustParseAddr(s).As16() }

func addr6(a IP6) netip.Addr { return netip.AddrFrom16(a) }

// TestRoute6 checks the IPv6 table of the dual-stack example: longest
// prefix, the "::/0" default, connected subnets, and that the IPv4 table
// is what it was.
func TestRoute6(t *testing.T) {
	topo := build(t, "dual-stack.yaml")
	gr := router(t, topo, "gr1")
	for _, tc := range []struct{ dst, port, nexthop string }{
		{"2606:4700::1111", "gr1-ext", "2001:db8:5::1"},                                     // ::/0
		{"2001:db8:200::20", "gr1-join", "fd00:16::2"},                                      // routed tenant prefix
		{"fd00:199:100::10", "gr1-join", "fd00:16::2"},                                      // NAT66 inside prefix
		{"2001:db8:5::7", "gr1-ext", "2001:db8:5::7"},                                       // connected
		{"fd00:16::2", "gr1-join", "fd00:16::2"},                                            // connected join
		{"2001:db8:200:1::20", "gr1-ext", "2001:db8:5::1"},                                  // outside the /64: default
		{"2001:db8:5:0:ffff:ffff:ffff:ffff", "gr1-ext", "2001:db8:5:0:ffff:ffff:ffff:ffff"}, // last of the /64
	} {
		hop, ok := gr.Route6(ip6(tc.dst))
		if !ok || hop.Port.Name != tc.port || hop.NextHop != ip6(tc.nexthop) {
			t.Errorf("Route6(%s) = %s via %s, %v; want %s via %s", tc.dst, addr6(hop.NextHop), portName(hop.Port), ok, tc.nexthop, tc.port)
		}
	}
	if !gr.RoutesOut6(ip6("2606:4700::1111")) || gr.RoutesOut6(ip6("2001:db8:200::20")) {
		t.Error("RoutesOut6 disagrees with Route6")
	}
	dr := router(t, topo, "dr")
	if hop, ok := dr.Route6(ip6("2606:4700::1111")); ok {
		t.Errorf("dr has no IPv6 default route, got %+v", hop)
	}
	var order []string
	for _, e := range gr.Routes6() {
		order = append(order, e.Prefix.String())
	}
	want := []string{"fd00:16::/64", "2001:db8:5::/64", "fd00:199:100::/64", "2001:db8:200::/64", "::/0"}
	if !slices.Equal(order, want) {
		t.Errorf("IPv6 table order = %v, want %v", order, want)
	}
	// The IPv4 side of the same router is untouched by IPv6.
	if hop, ok := gr.Route(ip("8.8.8.8")); !ok || hop.NextHop != ip("172.31.5.1") {
		t.Errorf("Route(8.8.8.8) = %+v, %v", hop, ok)
	}
	for _, e := range gr.Routes() {
		if !e.Prefix.Addr().Is4() {
			t.Errorf("IPv6 entry %s in the IPv4 table", e.Prefix)
		}
	}
}

// TestIngress6Routed walks an IPv6 packet from outside to vm2, whose
// prefix no NAT rule covers: classified by InboundRouter6, routed by both
// routers, delivered by Geneve over IPv6 to node02.
func TestIngress6Routed(t *testing.T) {
	topo := build(t, "dual-stack.yaml")
	vm2 := ip6("2001:db8:200::20")
	gr, ok := topo.InboundRouter6(vm2)
	if !ok || gr.Name != "gr1" {
		t.Fatalf("InboundRouter6(%s) = %v, %v; want gr1", addr6(vm2), gr, ok)
	}
	if _, nat := gr.SNAT6(vm2); nat {
		t.Fatalf("vm2's prefix has no NAT rule, SNAT6 says NAT")
	}
	hop, _ := gr.Route6(vm2)
	drp, ok := topo.RouterPortByIP6(hop.Port.Switch, hop.NextHop)
	if peer, pok := topo.PeerRouter6(hop); !ok || !pok || peer != drp || drp.Name != "dr-join" {
		t.Fatalf("RouterPortByIP6/PeerRouter6(%s) = %v, %v", addr6(hop.NextHop), drp, peer)
	}
	hop2, ok := drp.Router.Route6(vm2)
	if !ok || hop2.Port.Name != "dr-sw2" || hop2.NextHop != vm2 {
		t.Fatalf("dr.Route6 = %+v, %v", hop2, ok)
	}
	lp, ok := topo.LogicalPort6(hop2.Port.Switch, vm2)
	if !ok || lp.Name != "vm2" || lp.Key != 2 || hop2.Port.Switch.Key != 10 {
		t.Fatalf("LogicalPort6 = %+v, %v", lp, ok)
	}
	if lp.Chassis6 != ip6("2001:db8:31::22") || !lp.Chassis.IsZero() || !lp.IP.IsZero() {
		t.Errorf("vm2 chassis %s / %s, IPv4 %s", addr6(lp.Chassis6), lp.Chassis, lp.IP)
	}
	// An outside address is not routed inbound, nor the external subnet,
	// a NAT66 inside prefix (its traffic comes back through its NAT66
	// address, which RouterByExternalIP6 finds) or a join subnet.
	for _, a := range []string{"2606:4700::1111", "2001:db8:5::7", "fd00:199:100::10", "fd00:16::2"} {
		if r, ok := topo.InboundRouter6(ip6(a)); ok {
			t.Errorf("InboundRouter6(%s) = %s, want none", a, r.Name)
		}
	}
	if r, ok := topo.RouterByExternalIP6(ip6("2001:db8:5::100")); !ok || r != gr {
		t.Errorf("RouterByExternalIP6(NAT66 address) = %v, %v", r, ok)
	}
	// vm1 is dual stack: found by either address, on node01 over IPv4.
	sw1, _ := topo.SwitchByKey(9)
	a, ok4 := topo.LogicalPort(sw1, ip("10.199.100.10"))
	b, ok6 := topo.LogicalPort6(sw1, ip6("fd00:199:100::10"))
	if !ok4 || !ok6 || a != b || a.Chassis != ip("172.31.1.21") || a.Chassis6 != (IP6{}) {
		t.Errorf("vm1: %+v %v / %+v %v", a, ok4, b, ok6)
	}
}

// TestNATPerFamily: the lookup says NAT or routed, per family, and the
// IPv4 rule list never holds an IPv6 rule.
func TestNATPerFamily(t *testing.T) {
	topo := build(t, "dual-stack.yaml")
	gr := router(t, topo, "gr1")
	if r, ok := gr.SNAT4(ip("10.199.100.10")); !ok || r.External != ip("123.123.123.123") {
		t.Errorf("SNAT4(vm1) = %+v, %v", r, ok)
	}
	if _, ok := gr.SNAT4(ip("10.1.2.3")); ok {
		t.Error("SNAT4 of an uncovered source says NAT")
	}
	if r, ok := gr.SNAT6(ip6("fd00:199:100::10")); !ok || r.External != ip6("2001:db8:5::100") || r.PortMin != 1024 || r.PortMax != 65535 {
		t.Errorf("SNAT6(vm1) = %+v, %v", r, ok)
	}
	if _, ok := gr.SNAT6(ip6("2001:db8:200::20")); ok {
		t.Error("SNAT6 of the routed prefix says NAT")
	}
	if n := gr.NATRules(); len(n) != 1 || n[0].External != ip("123.123.123.123") {
		t.Errorf("NATRules = %+v", n)
	}
	if n := gr.NATRules6(); len(n) != 1 || n[0].Logical != netip.MustParsePrefix("fd00:199:100::/64") {
		t.Errorf("NATRules6 = %+v", n)
	}
	if got := topo.ExternalIPs(); !slices.Equal(got, []packet.IP4{ip("123.123.123.123"), ip("172.31.5.230")}) {
		t.Errorf("ExternalIPs = %v", got)
	}
	if got := topo.ExternalIPs6(); !slices.Equal(got, []IP6{ip6("2001:db8:5::100"), ip6("2001:db8:5::230")}) {
		t.Errorf("ExternalIPs6 = %x", got)
	}
	if got := topo.NATIPs6(); !slices.Equal(got, []IP6{ip6("2001:db8:5::100")}) {
		t.Errorf("NATIPs6 = %x", got)
	}
	if got := topo.ExternalNextHops6(); !slices.Equal(got, []IP6{ip6("2001:db8:5::1")}) {
		t.Errorf("ExternalNextHops6 = %x", got)
	}
	if got := topo.ExternalNextHops(); !slices.Equal(got, []packet.IP4{ip("172.31.5.1")}) {
		t.Errorf("ExternalNextHops = %v", got)
	}
	if len(topo.Chassis) != 1 || len(topo.Chassis6) != 1 || topo.Chassis6[0].IP6 != ip6("2001:db8:31::22") || topo.VTEP6 != ip6("2001:db8:31::23") {
		t.Errorf("chassis %+v / %+v, VTEP6 %x", topo.Chassis, topo.Chassis6, topo.VTEP6)
	}
	// A more specific dnat_and_snat wins over the snat of its network.
	r := &Router{nat6: []NATRule6{
		{Type: nat.KindSNAT, Logical: netip.MustParsePrefix("fd00::/64"), External: ip6("2001:db8::1")},
		{Type: nat.KindDNATAndSNAT, Logical: netip.MustParsePrefix("fd00::5/128"), External: ip6("2001:db8::5")},
		{Type: nat.KindDNAT, Logical: netip.MustParsePrefix("fd00::6/128"), External: ip6("2001:db8::6")},
	}}
	r.indexSNAT()
	if x, ok := r.SNAT6(ip6("fd00::5")); !ok || x.External != ip6("2001:db8::5") {
		t.Errorf("SNAT6(fd00::5) = %+v", x)
	}
	if x, ok := r.SNAT6(ip6("fd00::6")); !ok || x.External != ip6("2001:db8::1") {
		t.Errorf("SNAT6(fd00::6) = %+v", x)
	}
}

// TestLPM6Random compares Route6 with a brute-force longest match over
// netip prefixes, on random tables whose lengths cover the word edges
// (0, 1, 63, 64, 65, 127, 128).
func TestLPM6Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := []int{0, 1, 7, 32, 48, 56, 63, 64, 65, 96, 112, 127, 128}
	port := &RouterPort{Name: "p"}
	for round := range 200 {
		base := randIP6(rng)
		r := &Router{}
		var prefixes []netip.Prefix
		for range 12 {
			a := base
			for i := 4 + rng.IntN(12); i < 16; i++ { // share a random head with base
				a[i] = byte(rng.Uint32())
			}
			p := netip.PrefixFrom(netip.AddrFrom16(a), lengths[rng.IntN(len(lengths))]).Masked()
			prefixes = append(prefixes, p)
			r.table6 = append(r.table6, newEntry6(p, port, false, a))
		}
		sortTable6(r.table6)
		for q := range 50 {
			dst := base
			if q%2 == 1 {
				dst = randIP6(rng)
			}
			for i := 8 + rng.IntN(8); i < 16; i++ {
				dst[i] = byte(rng.Uint32())
			}
			best := -1
			for _, p := range prefixes {
				if p.Contains(netip.AddrFrom16(dst)) && p.Bits() > best {
					best = p.Bits()
				}
			}
			hop, ok := r.Route6(dst)
			got := -1
			if ok {
				for _, e := range r.table6 {
					if e.nextHop == hop.NextHop && e.prefix.Contains(netip.AddrFrom16(dst)) {
						got = max(got, e.bits)
					}
				}
			}
			if ok != (best >= 0) || got != best {
				t.Fatalf("round %d: Route6(%s) matched /%d (ok %v), brute force /%d", round, netip.AddrFrom16(dst), got, ok, best)
			}
		}
	}
}

func randIP6(rng *rand.Rand) (a IP6) {
	for i := range a {
		a[i] = byte(rng.Uint32())
	}
	return a
}

// TestLookups6DoNotAllocate holds the IPv6 lookups to zero allocations,
// as TestLookupsDoNotAllocate does the IPv4 ones.
func TestLookups6DoNotAllocate(t *testing.T) {
	topo := build(t, "dual-stack.yaml")
	gr := router(t, topo, "gr1")
	join, _ := topo.SwitchByKey(1)
	sw2, _ := topo.SwitchByKey(10)
	out, vm2, vm1, nat66, drJoin := ip6("2606:4700::1111"), ip6("2001:db8:200::20"), ip6("fd00:199:100::10"), ip6("2001:db8:5::100"), ip6("fd00:16::2")
	for _, tc := range []struct {
		name string
		f    func() bool
	}{
		{"Route6", func() bool { h, ok := gr.Route6(out); return ok && h.Port.External }},
		{"SNAT6", func() bool { _, ok := gr.SNAT6(vm1); return ok }},
		{"SNAT6 routed", func() bool { _, ok := gr.SNAT6(vm2); return !ok }},
		{"SNAT4", func() bool { _, ok := gr.SNAT4(ip("10.199.100.10")); return ok }},
		{"RouterByExternalIP6", func() bool { _, ok := topo.RouterByExternalIP6(nat66); return ok }},
		{"IsExternalIP6", func() bool { return topo.IsExternalIP6(nat66) }},
		{"InboundRouter6", func() bool { _, ok := topo.InboundRouter6(vm2); return ok }},
		{"RouterPortByIP6", func() bool { _, ok := topo.RouterPortByIP6(join, drJoin); return ok }},
		{"PeerRouter6", func() bool { h, _ := gr.Route6(vm2); _, ok := topo.PeerRouter6(h); return ok }},
		{"LogicalPort6", func() bool { _, ok := topo.LogicalPort6(sw2, vm2); return ok }},
	} {
		if !tc.f() {
			t.Errorf("%s: wrong answer", tc.name)
		}
		if n := testing.AllocsPerRun(1000, func() { tc.f() }); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, n)
		}
	}
}

// BenchmarkRouteFamily runs the same lookup shape, one egress route on a
// dual-stack gateway router, in each family; compare the two in one run.
func BenchmarkRouteFamily(b *testing.B) {
	topo := build(b, "dual-stack.yaml")
	gr := router(b, topo, "gr1")
	b.Run("v4", func(b *testing.B) {
		dst := ip("8.8.8.8")
		b.ReportAllocs()
		for b.Loop() {
			gr.Route(dst)
		}
	})
	b.Run("v6", func(b *testing.B) {
		dst := ip6("2606:4700::1111")
		b.ReportAllocs()
		for b.Loop() {
			gr.Route6(dst)
		}
	})
}
