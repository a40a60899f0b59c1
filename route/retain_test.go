package route

import (
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
