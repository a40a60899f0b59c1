package route

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

// TestRetainNATAddr checks what a reload relies on: a retained address
// still classifies to its router and is still steered, but is no rule's.
func TestRetainNATAddr(t *testing.T) {
	topo := build(t, "seed.yaml")
	gr := router(t, topo, "gr1")
	before := slices.Clone(topo.NATIPs())
	old := ip("123.123.123.200")
	if !topo.RetainNATAddr(old, "gr1") {
		t.Fatal("RetainNATAddr(new address, gr1) = false")
	}
	if r, ok := topo.RouterByExternalIP(old); !ok || r != gr {
		t.Fatalf("RouterByExternalIP(retained) = %v, %v", r, ok)
	}
	if !slices.Contains(topo.NATIPs(), old) || !slices.Contains(topo.ExternalIPs(), old) {
		t.Fatalf("retained address missing from NATIPs %v / ExternalIPs %v", topo.NATIPs(), topo.ExternalIPs())
	}
	if !slices.IsSortedFunc(topo.NATIPs(), packet.IP4.Compare) || !slices.IsSortedFunc(topo.ExternalIPs(), packet.IP4.Compare) {
		t.Fatalf("lists not sorted: %v %v", topo.NATIPs(), topo.ExternalIPs())
	}
	for _, n := range gr.NATRules() {
		if packet.IP4(n.External) == old {
			t.Fatalf("a NAT rule uses the retained address: %+v", n)
		}
	}
	if len(before) != len(topo.NATIPs())-1 {
		t.Fatalf("NATIPs %v -> %v", before, topo.NATIPs())
	}
	for _, tc := range []struct {
		ip     packet.IP4
		router string
	}{
		{ip("123.123.123.123"), "gr1"}, // a rule still uses it
		{ip("172.31.5.230"), "gr1"},    // the router's own port address
		{ip("123.123.123.201"), "dr"},  // distributed routers have no NAT
		{ip("123.123.123.201"), "nope"},
	} {
		if topo.RetainNATAddr(tc.ip, tc.router) {
			t.Errorf("RetainNATAddr(%s, %s) = true", tc.ip, tc.router)
		}
	}
}

// TestRetainNATAddr6 is TestRetainNATAddr for a NAT66 address.
func TestRetainNATAddr6(t *testing.T) {
	topo := build(t, "dual-stack.yaml")
	gr := router(t, topo, "gr1")
	before := slices.Clone(topo.NATIPs6())
	old := ip6("2001:db8:5::101")
	if !topo.RetainNATAddr6(old, "gr1") {
		t.Fatal("RetainNATAddr6(new address, gr1) = false")
	}
	if r, ok := topo.RouterByExternalIP6(old); !ok || r != gr {
		t.Fatalf("RouterByExternalIP6(retained) = %v, %v", r, ok)
	}
	if !slices.Contains(topo.NATIPs6(), old) || !slices.Contains(topo.ExternalIPs6(), old) || len(topo.NATIPs6()) != len(before)+1 {
		t.Fatalf("retained address missing from NATIPs6 %v / ExternalIPs6 %v", topo.NATIPs6(), topo.ExternalIPs6())
	}
	if !slices.IsSortedFunc(topo.NATIPs6(), compare6) || !slices.IsSortedFunc(topo.ExternalIPs6(), compare6) {
		t.Fatalf("lists not sorted: %v %v", topo.NATIPs6(), topo.ExternalIPs6())
	}
	for _, n := range gr.NATRules6() {
		if n.External == old {
			t.Fatalf("a NAT66 rule uses the retained address: %+v", n)
		}
	}
	for _, tc := range []struct {
		ip     IP6
		router string
	}{
		{ip6("2001:db8:5::100"), "gr1"}, // a rule still uses it
		{ip6("2001:db8:5::230"), "gr1"}, // the router's own port address
		{ip6("2001:db8:5::102"), "dr"},  // distributed routers have no NAT
		{ip6("2001:db8:5::102"), "nope"},
	} {
		if topo.RetainNATAddr6(tc.ip, tc.router) {
			t.Errorf("RetainNATAddr6(%s, %s) = true", addr6(tc.ip), tc.router)
		}
	}
}

// TestRoutedPrefixes6: the routed prefix is listed, not the NAT66 inside
// prefix, the join subnet or the default route out.
func TestRoutedPrefixes6(t *testing.T) {
	topo := build(t, "dual-stack.yaml")
	got := topo.RoutedPrefixes6()
	want := []netip.Prefix{netip.MustParsePrefix("2001:db8:200::/64")}
	if !slices.Equal(got, want) {
		t.Fatalf("RoutedPrefixes6 = %v, want %v", got, want)
	}
	for _, p := range got {
		if _, ok := topo.InboundRouter6(p.Addr().Next().As16()); !ok {
			t.Errorf("%s: InboundRouter6 finds no router in it", p)
		}
	}
	if got := build(t, "seed.yaml").RoutedPrefixes6(); len(got) != 0 {
		t.Fatalf("IPv4-only seed: RoutedPrefixes6 = %v", got)
	}
}
