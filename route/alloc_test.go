package route

import "testing"

// TestLookupsDoNotAllocate holds the hot-path lookups to zero allocations.
func TestLookupsDoNotAllocate(t *testing.T) {
	topo := build(t, "seed.yaml")
	gr := router(t, topo, "gr1")
	dr := router(t, topo, "dr")
	join, _ := topo.SwitchByKey(1)
	sw1, _ := topo.SwitchByKey(9)
	var neigh Neighbors = StaticNeighbors{ip("172.31.5.1"): mac("88:2a:5e:a9:30:ab")}
	grMAC, ext, dst, vm, nh, drIP := mac("ae:cd:cd:04:d7:d4"), ip("123.123.123.123"), ip("172.31.6.24"), ip("10.199.100.10"), ip("172.31.5.1"), ip("172.16.255.2")
	for _, tc := range []struct {
		name string
		f    func() bool
	}{
		{"JoinPort", func() bool { _, ok := topo.JoinPort(1, grMAC); return ok }},
		{"JoinPort miss", func() bool { _, ok := topo.JoinPort(7, grMAC); return !ok }},
		{"Route", func() bool { _, ok := gr.Route(dst); return ok }},
		{"Route DR", func() bool { _, ok := dr.Route(vm); return ok }},
		{"RouterByExternalIP", func() bool { _, ok := topo.RouterByExternalIP(ext); return ok }},
		{"IsExternalIP", func() bool { return topo.IsExternalIP(ext) }},
		{"SwitchByKey", func() bool { _, ok := topo.SwitchByKey(9); return ok }},
		{"RouterPortByIP", func() bool { _, ok := topo.RouterPortByIP(join, drIP); return ok }},
		{"PeerRouter", func() bool { h, _ := gr.Route(vm); _, ok := topo.PeerRouter(h); return ok }},
		{"LogicalPort", func() bool { _, ok := topo.LogicalPort(sw1, vm); return ok }},
		{"NATRules", func() bool { return len(gr.NATRules()) == 1 }},
		{"ExternalIPs", func() bool { return len(topo.ExternalIPs()) == 2 }},
		{"Neighbors", func() bool { _, ok := neigh.Lookup(nh); return ok }},
	} {
		if !tc.f() {
			t.Errorf("%s: wrong answer", tc.name)
		}
		if n := testing.AllocsPerRun(1000, func() { tc.f() }); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, n)
		}
	}
}

func BenchmarkEgressLookups(b *testing.B) {
	topo := build(b, "seed.yaml")
	grMAC, dst := mac("ae:cd:cd:04:d7:d4"), ip("172.31.6.24")
	b.ReportAllocs()
	for b.Loop() {
		rp, _ := topo.JoinPort(1, grMAC)
		rp.Router.Route(dst)
	}
}

func BenchmarkIngressLookups(b *testing.B) {
	topo := build(b, "seed.yaml")
	ext, vm := ip("123.123.123.123"), ip("10.199.100.10")
	b.ReportAllocs()
	for b.Loop() {
		r, _ := topo.RouterByExternalIP(ext)
		hop, _ := r.Route(vm)
		drp, _ := topo.RouterPortByIP(hop.Port.Switch, hop.NextHop)
		hop2, _ := drp.Router.Route(vm)
		topo.LogicalPort(hop2.Port.Switch, hop2.NextHop)
	}
}
