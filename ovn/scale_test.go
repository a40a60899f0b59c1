package ovn

import (
	"fmt"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
	"github.com/xgw-dev/xgw/route"
)

// scaleSnapshot builds, in memory, the scale case: routers
// tenants, each a gateway router bound to gateway01 with SNAT, a join
// switch, a distributed router and a tenant switch of vifs VMs, the VMs
// spread over chassisN hypervisors. Rows are what northd and
// ovn-controller would write.
func scaleSnapshot(routers, vifs, chassisN int) *snapshot {
	s := &snapshot{routers: map[string]*nbdb.LogicalRouter{}, lrps: map[string]*nbdb.LogicalRouterPort{},
		switches: map[string]*nbdb.LogicalSwitch{}, lsps: map[string]*nbdb.LogicalSwitchPort{}, nats: map[string]*nbdb.NAT{},
		routes: map[string]*nbdb.LogicalRouterStaticRoute{}, chassis: map[string]*sbdb.Chassis{}, private: map[string]*sbdb.ChassisPrivate{},
		encaps: map[string]*sbdb.Encap{}, bindings: map[string]*sbdb.PortBinding{}, datapaths: map[string]*sbdb.DatapathBinding{},
		haGroups: map[string]*sbdb.HAChassisGroup{}, haChassis: map[string]*sbdb.HAChassis{}, macs: map[string]*sbdb.MACBinding{}}
	n := 0
	uuid := func() string { n++; return fmt.Sprintf("u%d", n) }
	for c := 0; c < chassisN; c++ {
		e := &sbdb.Encap{UUID: uuid(), Type: sbdb.EncapTypeGeneve, IP: fmt.Sprintf("192.0.%d.%d", 2+c/250, 2+c%250), ChassisName: fmt.Sprintf("hv%d", c)}
		s.encaps[e.UUID] = e
		ch := &sbdb.Chassis{UUID: uuid(), Name: e.ChassisName, Encaps: []string{e.UUID}}
		s.chassis[ch.UUID] = ch
	}
	var chassisUUIDs []string
	for u := range s.chassis {
		chassisUUIDs = append(chassisUUIDs, u)
	}
	dpKey := 0
	key := map[string]int{}
	addLS := func(name string) *nbdb.LogicalSwitch {
		sw := &nbdb.LogicalSwitch{UUID: uuid(), Name: name}
		s.switches[sw.UUID] = sw
		dpKey++
		dp := &sbdb.DatapathBinding{UUID: uuid(), TunnelKey: dpKey, ExternalIDs: map[string]string{"logical-switch": sw.UUID, "name": name}}
		s.datapaths[dp.UUID] = dp
		return sw
	}
	addLR := func(name string, opts map[string]string) *nbdb.LogicalRouter {
		r := &nbdb.LogicalRouter{UUID: uuid(), Name: name, Options: opts}
		s.routers[r.UUID] = r
		dpKey++
		dp := &sbdb.DatapathBinding{UUID: uuid(), TunnelKey: dpKey, ExternalIDs: map[string]string{"logical-router": r.UUID, "name": name}}
		s.datapaths[dp.UUID] = dp
		return r
	}
	addLSP := func(sw *nbdb.LogicalSwitch, lsp *nbdb.LogicalSwitchPort, pbType string, mac []string, chassis *string) {
		lsp.UUID = uuid()
		s.lsps[lsp.UUID] = lsp
		sw.Ports = append(sw.Ports, lsp.UUID)
		key[sw.UUID]++
		pb := &sbdb.PortBinding{UUID: uuid(), LogicalPort: lsp.Name, Type: pbType, TunnelKey: key[sw.UUID], MAC: mac, Chassis: chassis}
		s.bindings[pb.UUID] = pb
	}
	addLRP := func(r *nbdb.LogicalRouter, name, mac, nw string, sw *nbdb.LogicalSwitch) {
		p := &nbdb.LogicalRouterPort{UUID: uuid(), Name: name, MAC: mac, Networks: []string{nw}}
		s.lrps[p.UUID] = p
		r.Ports = append(r.Ports, p.UUID)
		addLSP(sw, &nbdb.LogicalSwitchPort{Name: sw.Name + "-" + name, Type: "router", Options: map[string]string{"router-port": name}}, "patch", []string{"router"}, nil)
	}
	ext := addLS("ext")
	addLSP(ext, &nbdb.LogicalSwitchPort{Name: "ext-localnet", Type: "localnet", Options: map[string]string{"network_name": "physnet1"}}, "localnet", nil, nil)
	perRouter := vifs / routers
	v := 0
	for i := 0; i < routers; i++ {
		hi, lo := i/250, i%250
		join, tenant := addLS(fmt.Sprintf("join%d", i)), addLS(fmt.Sprintf("sw%d", i))
		dr := addLR(fmt.Sprintf("dr%d", i), nil)
		gr := addLR(fmt.Sprintf("gr%d", i), map[string]string{"chassis": "gateway01"})
		addLRP(dr, fmt.Sprintf("dr%d-join", i), fmt.Sprintf("0a:00:00:00:%02x:%02x", hi, lo), "172.16.255.2/24", join)
		addLRP(dr, fmt.Sprintf("dr%d-sw", i), fmt.Sprintf("0a:00:00:01:%02x:%02x", hi, lo), "10.199.100.1/24", tenant)
		addLRP(gr, fmt.Sprintf("gr%d-join", i), fmt.Sprintf("0a:00:00:02:%02x:%02x", hi, lo), "172.16.255.3/24", join)
		addLRP(gr, fmt.Sprintf("gr%d-ext", i), fmt.Sprintf("0a:00:00:03:%02x:%02x", hi, lo), fmt.Sprintf("100.%d.%d.1/30", 64+hi, lo), ext)
		for _, rt := range []*nbdb.LogicalRouterStaticRoute{{IPPrefix: "10.199.100.0/24", Nexthop: "172.16.255.2"}, {IPPrefix: "0.0.0.0/0", Nexthop: fmt.Sprintf("100.%d.%d.2", 64+hi, lo)}} {
			rt.UUID = uuid()
			s.routes[rt.UUID] = rt
			gr.StaticRoutes = append(gr.StaticRoutes, rt.UUID)
		}
		nat := &nbdb.NAT{UUID: uuid(), Type: "snat", LogicalIP: "10.199.100.0/24", ExternalIP: fmt.Sprintf("203.%d.%d.10", hi, lo)}
		s.nats[nat.UUID] = nat
		gr.Nat = append(gr.Nat, nat.UUID)
		for j := 0; j < perRouter; j++ {
			ch := chassisUUIDs[v%len(chassisUUIDs)]
			mac := fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", hi, lo, j/250, j%250)
			addLSP(tenant, &nbdb.LogicalSwitchPort{Name: fmt.Sprintf("vm%d-%d", i, j)}, "", []string{fmt.Sprintf("%s 10.199.100.%d", mac, 10+j)}, &ch)
			v++
		}
	}
	return s
}

func scaleBase(t testing.TB) *config.Config {
	c, err := config.Parse([]byte(`
ovn:
  chassis: gateway01
  sb: ["unix:/x/sb.sock"]
  nb: ["unix:/x/nb.sock"]
  encap: { ip: 192.0.2.1 }
  bridge_mappings: { physnet1: gw-ext }
interfaces:
  underlay: { name: gw-under }
  external: { name: gw-ext }
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestScaleTranslation: the scale case translates every router,
// and reports how long a full translation and its route.Build take (the
// cost of every change today: translation is not incremental yet).
func TestScaleTranslation(t *testing.T) {
	if testing.Short() {
		t.Skip("scale case skipped in -short")
	}
	s := scaleSnapshot(1000, 20000, 50)
	base := scaleBase(t)
	z, cache := newZones(), map[string]*cached{}
	start := time.Now()
	cfg, tr := translate(s, base, z, cache, nil)
	took := time.Since(start)
	if len(tr.served) != 1000 || len(tr.problems) != 0 {
		t.Fatalf("served %d routers, problems %v", len(tr.served), tr.problems[:min(5, len(tr.problems))])
	}
	start = time.Now()
	if _, err := route.Build(cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 routers, 20000 VIFs, 50 chassis: translate %v, route.Build %v", took, time.Since(start))
	// A change to one router: the others keep their verdicts.
	for _, r := range s.routers {
		if r.Name == "gr500" {
			nat := &nbdb.NAT{UUID: "newnat", Type: "dnat_and_snat", LogicalIP: "10.199.100.10", ExternalIP: "203.1.244.20"}
			s.nats[nat.UUID] = nat
			r.Nat = append(r.Nat, nat.UUID)
		}
	}
	before := findRouter(cfg, "gr500").Zones
	start = time.Now()
	cfg2, _ := translate(s, base, z, cache, nil)
	t.Logf("again after one NAT rule added: translate %v", time.Since(start))
	if !hasNAT(cfg2, "gr500", "203.1.244.20") {
		t.Fatalf("the new rule is not in the translation")
	}
	// The zones of routers that stay do not move.
	if findRouter(cfg2, "gr500").Zones != before {
		t.Fatalf("gr500's zones moved")
	}
}
