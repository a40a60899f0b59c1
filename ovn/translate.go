package ovn

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// Problem is one thing xgw met in the databases and does not support, or
// that stops it from serving a router. Router names the router refused
// because of it ("" when nothing is refused: the object is ignored).
type Problem struct {
	Object string `json:"object"` // "nat 203.0.113.5 (router gr1)", "load_balancer lb1", ...
	Reason string `json:"reason"`
	Router string `json:"router,omitempty"`
}

func (p Problem) String() string {
	s := p.Object + ": " + p.Reason
	if p.Router != "" {
		s += " (router " + p.Router + " refused)"
	}
	return s
}

// fragment is what serving one gateway router takes: the router, the
// switches it reaches (join switches, and the tenant switches behind the
// distributed routers on them), those distributed routers, and the
// chassis its VMs live on. Fragments of routers that share a join switch
// or a distributed router overlap; merge unions them.
type fragment struct {
	routers  []config.Router
	switches []config.Switch
}

// translation is the result of one pass over a snapshot.
type translation struct {
	topo     config.Config // Chassis, Switches, Routers only
	served   []string      // gateway routers served, sorted
	problems []Problem
}

// index holds the lookups translation needs, built once per snapshot.
type index struct {
	s          *snapshot
	lrpByName  map[string]*nbdb.LogicalRouterPort
	routerOf   map[string]*nbdb.LogicalRouter // LRP UUID -> router
	switchOf   map[string]*nbdb.LogicalSwitch // LSP UUID -> switch
	lspOfLRP   map[string]*nbdb.LogicalSwitchPort
	pbByName   map[string]*sbdb.PortBinding
	dpKey      map[string]int // NB router/switch UUID -> datapath tunnel key
	chassisIP  map[string]string
	chassisNm  map[string]string // Chassis UUID -> name
	bridgeMaps map[string]string
}

func newIndex(s *snapshot, bridgeMaps map[string]string) *index {
	x := &index{s: s, lrpByName: map[string]*nbdb.LogicalRouterPort{}, routerOf: map[string]*nbdb.LogicalRouter{},
		switchOf: map[string]*nbdb.LogicalSwitch{}, lspOfLRP: map[string]*nbdb.LogicalSwitchPort{},
		pbByName: map[string]*sbdb.PortBinding{}, dpKey: map[string]int{}, chassisIP: map[string]string{},
		chassisNm: map[string]string{}, bridgeMaps: bridgeMaps}
	for _, p := range s.lrps {
		x.lrpByName[p.Name] = p
	}
	for _, r := range s.routers {
		for _, u := range r.Ports {
			x.routerOf[u] = r
		}
	}
	for _, sw := range s.switches {
		for _, u := range sw.Ports {
			x.switchOf[u] = sw
		}
	}
	for _, p := range s.lsps {
		if p.Type == "router" && p.Options["router-port"] != "" {
			x.lspOfLRP[p.Options["router-port"]] = p
		}
	}
	for _, pb := range s.bindings {
		x.pbByName[pb.LogicalPort] = pb
	}
	for _, dp := range s.datapaths {
		for _, k := range []string{"logical-router", "logical-switch"} {
			if u := dp.ExternalIDs[k]; u != "" {
				x.dpKey[u] = dp.TunnelKey
			}
		}
	}
	for _, ch := range s.chassis {
		x.chassisNm[ch.UUID] = ch.Name
		for _, e := range ch.Encaps {
			if en := s.encaps[e]; en != nil && en.Type == sbdb.EncapTypeGeneve {
				x.chassisIP[ch.Name] = en.IP
				break
			}
		}
	}
	return x
}

// gatewayRouters are the NB routers bound to chassis name (options:chassis),
// sorted by name.
func (x *index) gatewayRouters(name string) []*nbdb.LogicalRouter {
	var out []*nbdb.LogicalRouter
	for _, r := range x.s.routers {
		if r.Options["chassis"] == name {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *nbdb.LogicalRouter) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// isGateway reports whether r is a gateway router (bound to any chassis).
func isGateway(r *nbdb.LogicalRouter) bool { return r.Options["chassis"] != "" }

// localnetNetwork returns the network_name of sw's localnet port, or "".
func (x *index) localnetNetwork(sw *nbdb.LogicalSwitch) string {
	for _, u := range sw.Ports {
		if p := x.s.lsps[u]; p != nil && p.Type == "localnet" {
			return p.Options["network_name"]
		}
	}
	return ""
}

// ipv4Network returns the one IPv4 network of an LRP.
func ipv4Network(p *nbdb.LogicalRouterPort) (string, error) {
	var v4 []string
	for _, n := range p.Networks {
		if pf, err := netip.ParsePrefix(n); err == nil && pf.Addr().Is4() {
			v4 = append(v4, n)
		}
	}
	switch len(v4) {
	case 0:
		return "", fmt.Errorf("router port %s has no IPv4 network", p.Name)
	case 1:
		return v4[0], nil
	}
	return "", fmt.Errorf("router port %s has %d IPv4 networks; xgw serves one per port", p.Name, len(v4))
}

// routerPorts lists r's ports sorted by name.
func (x *index) routerPorts(r *nbdb.LogicalRouter) []*nbdb.LogicalRouterPort {
	var out []*nbdb.LogicalRouterPort
	for _, u := range r.Ports {
		if p := x.s.lrps[u]; p != nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *nbdb.LogicalRouterPort) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// unsupportedOnRouter lists what a gateway router uses that xgw cannot do.
func (x *index) unsupportedOnRouter(r *nbdb.LogicalRouter) []Problem {
	var ps []Problem
	add := func(obj, reason string) { ps = append(ps, Problem{Object: obj, Reason: reason, Router: r.Name}) }
	if len(r.LoadBalancer) > 0 || len(r.LoadBalancerGroup) > 0 {
		add("router "+r.Name+" load_balancer", fmt.Sprintf("%d load balancer(s) / %d group(s): load balancing is not supported", len(r.LoadBalancer), len(r.LoadBalancerGroup)))
	}
	if len(r.Policies) > 0 {
		add("router "+r.Name+" policies", fmt.Sprintf("%d routing policy(ies): router policies are not supported", len(r.Policies)))
	}
	// lb_force_snat_ip SNATs only what the router's own load balancers
	// DNATed (northd sets flags.force_snat_for_lb in their lr_in_dnat and
	// lr_out_undnat flows, nowhere else); its un-SNAT flow finds no
	// connection otherwise. Without load balancers on the router it is
	// a no-op (x.ignoredOnRouter notes it); with them the router is
	// refused for the load balancers anyway.
	if v := r.Options["lb_force_snat_ip"]; v != "" && (len(r.LoadBalancer) > 0 || len(r.LoadBalancerGroup) > 0) {
		add("router "+r.Name+" options:lb_force_snat_ip", "forced SNAT of load-balanced traffic ("+v+"): load balancing is not supported")
	}
	if v := r.Options["dnat_force_snat_ip"]; v != "" {
		add("router "+r.Name+" options:dnat_force_snat_ip", "forced SNAT of DNATed traffic ("+v+") is not supported")
	}
	for _, p := range x.routerPorts(r) {
		if len(p.GatewayChassis) > 0 || p.HaChassisGroup != nil {
			add("router port "+p.Name, "gateway_chassis on a gateway router's port: not supported")
		}
	}
	for _, u := range r.Nat {
		n := x.s.nats[u]
		if n == nil {
			continue
		}
		obj := fmt.Sprintf("nat %s %s %s", n.Type, n.ExternalIP, n.LogicalIP)
		switch {
		case n.Options["stateless"] == "true":
			add(obj, "stateless NAT is not supported")
		case n.AllowedExtIPs != nil || n.ExemptedExtIPs != nil:
			add(obj, "allowed_ext_ips / exempted_ext_ips are not supported")
		case n.LogicalPort != nil || n.ExternalMAC != nil:
			add(obj, "distributed NAT (logical_port / external_mac) is not supported")
		case n.GatewayPort != nil:
			add(obj, "gateway_port is not supported")
		}
	}
	seen := map[string]int{}
	for _, u := range r.StaticRoutes {
		rt := x.s.routes[u]
		if rt == nil {
			continue
		}
		obj := "route " + rt.IPPrefix + " via " + rt.Nexthop
		switch {
		case rt.Policy != nil && *rt.Policy == nbdb.LogicalRouterStaticRoutePolicySrcIP:
			add(obj, "source-IP routes are not supported")
		case rt.RouteTable != "":
			add(obj, "route tables are not supported")
		case rt.BFD != nil:
			add(obj, "BFD-monitored routes are not supported")
		case rt.Nexthop == "discard":
			add(obj, "discard routes are not supported")
		}
		seen[routePrefix(rt.IPPrefix)]++
	}
	for pfx, n := range seen {
		if n > 1 {
			add("route "+pfx, fmt.Sprintf("%d routes for one prefix (ECMP) are not supported", n))
		}
	}
	slices.SortFunc(ps, func(a, b Problem) int { return strings.Compare(a.Object, b.Object) })
	return ps
}

// ignoredOnRouter notes what a router sets that has no effect on what
// xgw serves: lb_force_snat_ip without load balancers.
func ignoredOnRouter(r *nbdb.LogicalRouter) []Problem {
	if v := r.Options["lb_force_snat_ip"]; v != "" && len(r.LoadBalancer) == 0 && len(r.LoadBalancerGroup) == 0 {
		return []Problem{{Object: "router " + r.Name + " options:lb_force_snat_ip",
			Reason: "SNATs load-balanced traffic only (" + v + "), and the router has no load balancer: ignored"}}
	}
	return nil
}

// routePrefix normalises a route's ip_prefix: a bare address is a host route.
func routePrefix(s string) string {
	if !strings.Contains(s, "/") {
		if a, err := netip.ParseAddr(s); err == nil {
			return netip.PrefixFrom(a, a.BitLen()).String()
		}
		return s
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String()
	}
	return s
}

// gatewayFragment builds what serving gateway router r takes; an error
// says why r cannot be served.
func (x *index) gatewayFragment(r *nbdb.LogicalRouter, zones config.Zones) (*fragment, []Problem, error) {
	f := &fragment{}
	var notes []Problem
	gr := config.Router{Name: r.Name, Zones: zones}
	var joins []*nbdb.LogicalSwitch
	external := 0
	for _, p := range x.routerPorts(r) {
		if p.Enabled != nil && !*p.Enabled {
			continue
		}
		nw, err := ipv4Network(p)
		if err != nil {
			return nil, nil, err
		}
		lsp := x.lspOfLRP[p.Name]
		if lsp == nil {
			return nil, nil, fmt.Errorf("router port %s is on no logical switch (no switch port of type router with options:router-port=%s)", p.Name, p.Name)
		}
		sw := x.switchOf[lsp.UUID]
		if sw == nil {
			return nil, nil, fmt.Errorf("switch port %s belongs to no switch", lsp.Name)
		}
		rp := config.RouterPort{Name: p.Name, MAC: config.MAC(p.MAC), IP: config.CIDR(nw)}
		if nwName := x.localnetNetwork(sw); nwName != "" {
			if _, ok := x.bridgeMaps[nwName]; !ok {
				return nil, nil, fmt.Errorf("router port %s is on switch %s, whose localnet port's network_name %q is not in ovn.bridge_mappings", p.Name, sw.Name, nwName)
			}
			rp.External = true
			external++
		} else {
			joins = append(joins, sw)
		}
		gr.Ports = append(gr.Ports, rp)
	}
	if external != 1 {
		return nil, nil, fmt.Errorf("a gateway router needs exactly one port on a switch with a localnet port mapped by ovn.bridge_mappings, has %d", external)
	}
	notes = append(notes, x.routesAndNAT(r, &gr)...)
	f.routers = append(f.routers, gr)

	// Join switches: the gateway router's and the distributed routers'
	// attachments; then the distributed routers and their tenant switches.
	included := map[string]bool{r.UUID: true}
	var drs []*nbdb.LogicalRouter
	for _, sw := range joins {
		for _, u := range sw.Ports {
			p := x.s.lsps[u]
			if p == nil || p.Type != "router" {
				continue
			}
			lrp := x.lrpByName[p.Options["router-port"]]
			if lrp == nil {
				continue
			}
			owner := x.routerOf[lrp.UUID]
			if owner == nil || isGateway(owner) || included[owner.UUID] {
				continue
			}
			included[owner.UUID] = true
			drs = append(drs, owner)
		}
	}
	slices.SortFunc(drs, func(a, b *nbdb.LogicalRouter) int { return strings.Compare(a.Name, b.Name) })
	tenants := map[string]*nbdb.LogicalSwitch{}
	for _, dr := range drs {
		cr := config.Router{Name: dr.Name, Distributed: true}
		for _, p := range x.routerPorts(dr) {
			if p.Enabled != nil && !*p.Enabled {
				continue
			}
			nw, err := ipv4Network(p)
			if err != nil {
				notes = append(notes, Problem{Object: "router port " + p.Name, Reason: err.Error() + ": not served"})
				continue
			}
			lsp := x.lspOfLRP[p.Name]
			sw := (*nbdb.LogicalSwitch)(nil)
			if lsp != nil {
				sw = x.switchOf[lsp.UUID]
			}
			if sw == nil || x.localnetNetwork(sw) != "" {
				// Not on a tenant switch (e.g. a distributed gateway
				// port): xgw does not route there.
				continue
			}
			cr.Ports = append(cr.Ports, config.RouterPort{Name: p.Name, MAC: config.MAC(p.MAC), IP: config.CIDR(nw)})
			if !slices.Contains(joins, sw) {
				tenants[sw.UUID] = sw
			}
		}
		f.routers = append(f.routers, cr)
	}
	for _, sw := range joins {
		f.switches = append(f.switches, x.switchFragment(sw, included, &notes))
	}
	for _, sw := range tenants {
		f.switches = append(f.switches, x.switchFragment(sw, included, &notes))
	}
	slices.SortFunc(f.switches, func(a, b config.Switch) int { return strings.Compare(a.Name, b.Name) })
	return f, notes, nil
}

// routesAndNAT translates r's static routes and NAT rules into cr; what
// it ignores (IPv6) is returned as problems.
func (x *index) routesAndNAT(r *nbdb.LogicalRouter, cr *config.Router) []Problem {
	var ps []Problem
	for _, u := range r.StaticRoutes {
		rt := x.s.routes[u]
		if rt == nil {
			continue
		}
		pfx, err := netip.ParsePrefix(routePrefix(rt.IPPrefix))
		if err != nil || !pfx.Addr().Is4() {
			ps = append(ps, Problem{Object: "route " + rt.IPPrefix + " (router " + r.Name + ")", Reason: "not IPv4: ignored"})
			continue
		}
		cr.Routes = append(cr.Routes, config.Route{Prefix: config.Prefix(pfx.String()), NextHop: config.IP(rt.Nexthop)})
	}
	slices.SortFunc(cr.Routes, func(a, b config.Route) int { return strings.Compare(string(a.Prefix), string(b.Prefix)) })
	for _, u := range r.Nat {
		n := x.s.nats[u]
		if n == nil {
			continue
		}
		ext, err := netip.ParseAddr(n.ExternalIP)
		if err != nil || !ext.Is4() {
			ps = append(ps, Problem{Object: "nat " + n.ExternalIP + " (router " + r.Name + ")", Reason: "not IPv4: ignored"})
			continue
		}
		cn := config.NAT{Type: config.NATType(n.Type), LogicalIP: config.Prefix(routePrefix(n.LogicalIP)),
			ExternalIP: config.IP(n.ExternalIP), PortRange: config.PortRange(n.ExternalPortRange)}
		if lo, hi, ok := config.DefaultPorts(cn.Type.Value()); ok && cn.PortRange == "" {
			cn.PortRange = config.PortRange(fmt.Sprintf("%d-%d", lo, hi))
		}
		cr.NAT = append(cr.NAT, cn)
	}
	slices.SortFunc(cr.NAT, func(a, b config.NAT) int {
		return strings.Compare(string(a.Type)+string(a.ExternalIP)+string(a.LogicalIP), string(b.Type)+string(b.ExternalIP)+string(b.LogicalIP))
	})
	return ps
}

// switchFragment translates sw: attachments of the routers in included,
// and the VMs (VIF ports bound to a chassis) whose address is in the
// subnet of one of those attachments.
func (x *index) switchFragment(sw *nbdb.LogicalSwitch, included map[string]bool, notes *[]Problem) config.Switch {
	cs := config.Switch{Name: sw.Name, Key: uint32(x.dpKey[sw.UUID])}
	var subnets []netip.Prefix
	ports := make([]*nbdb.LogicalSwitchPort, 0, len(sw.Ports))
	for _, u := range sw.Ports {
		if p := x.s.lsps[u]; p != nil {
			ports = append(ports, p)
		}
	}
	slices.SortFunc(ports, func(a, b *nbdb.LogicalSwitchPort) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range ports {
		if p.Type != "router" {
			continue
		}
		lrp := x.lrpByName[p.Options["router-port"]]
		if lrp == nil || x.routerOf[lrp.UUID] == nil || !included[x.routerOf[lrp.UUID].UUID] {
			continue
		}
		pb := x.pbByName[p.Name]
		if pb == nil {
			continue // northd has not bound it yet
		}
		if nw, err := ipv4Network(lrp); err == nil {
			subnets = append(subnets, netip.MustParsePrefix(nw).Masked())
		} else {
			continue
		}
		cs.Ports = append(cs.Ports, config.SwitchPort{Name: p.Name, Key: uint16(pb.TunnelKey), RouterPort: lrp.Name})
	}
	ips := map[string]bool{}
	for _, p := range ports {
		if p.Type != "" {
			continue
		}
		pb := x.pbByName[p.Name]
		if pb == nil || pb.Chassis == nil {
			continue // not bound to any chassis: nothing to deliver to
		}
		ch := x.chassisNm[*pb.Chassis]
		if x.chassisIP[ch] == "" {
			continue
		}
		mac, ip, ok := vifAddress(pb.MAC)
		if !ok {
			continue
		}
		in := slices.ContainsFunc(subnets, func(s netip.Prefix) bool { return s.Contains(ip) })
		if !in || ips[ip.String()] || pb.TunnelKey < 1 || pb.TunnelKey > 32767 {
			*notes = append(*notes, Problem{Object: "switch port " + p.Name, Reason: fmt.Sprintf("address %s is outside the router subnets of switch %s, or not unique: not served", ip, sw.Name)})
			continue
		}
		ips[ip.String()] = true
		cs.Ports = append(cs.Ports, config.SwitchPort{Name: p.Name, Key: uint16(pb.TunnelKey), MAC: config.MAC(mac), IP: config.Addresses(ip.String()), Chassis: ch})
	}
	return cs
}

// vifAddress takes the MAC and first IPv4 address of a Port_Binding's mac
// column ("MAC IP [IP...]"; northd resolves dynamic addresses there).
func vifAddress(macs []string) (string, netip.Addr, bool) {
	for _, m := range macs {
		f := strings.Fields(m)
		if len(f) < 2 {
			continue
		}
		for _, a := range f[1:] {
			a, _, _ = strings.Cut(a, "/")
			if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
				return f[0], ip, true
			}
		}
	}
	return "", netip.Addr{}, false
}

// union accumulates fragments into one topology: routers by name (a
// distributed router shared by several gateway routers is the same
// translation each time), switches by name with their ports unioned.
type union struct {
	routers  []config.Router
	switches []config.Switch
	rIdx     map[string]bool
	sIdx     map[string]int
	ports    []map[string]bool
}

func newUnion() *union { return &union{rIdx: map[string]bool{}, sIdx: map[string]int{}} }

func (u *union) add(f *fragment) {
	for _, r := range f.routers {
		if !u.rIdx[r.Name] {
			u.rIdx[r.Name] = true
			u.routers = append(u.routers, r)
		}
	}
	for _, s := range f.switches {
		i, ok := u.sIdx[s.Name]
		if !ok {
			i = len(u.switches)
			u.sIdx[s.Name] = i
			s.Ports = slices.Clone(s.Ports)
			u.switches = append(u.switches, s)
			seen := make(map[string]bool, len(s.Ports))
			for _, p := range s.Ports {
				seen[p.Name] = true
			}
			u.ports = append(u.ports, seen)
			continue
		}
		for _, p := range s.Ports {
			if !u.ports[i][p.Name] {
				u.ports[i][p.Name] = true
				u.switches[i].Ports = append(u.switches[i].Ports, p)
			}
		}
	}
}

// clone copies u deeply enough that adding to the copy leaves u alone.
func (u *union) clone() *union {
	c := &union{routers: slices.Clone(u.routers), rIdx: maps.Clone(u.rIdx), sIdx: maps.Clone(u.sIdx)}
	for i, s := range u.switches {
		s.Ports = slices.Clone(s.Ports)
		c.switches = append(c.switches, s)
		c.ports = append(c.ports, maps.Clone(u.ports[i]))
	}
	return c
}

// chassisList is every other chassis with a Geneve encap: the VMs' VTEPs
// and the fast path's known-VTEP filter.
func (x *index) chassisList(self string, vtep string, notes *[]Problem) []config.Chassis {
	var out []config.Chassis
	seen := map[string]string{}
	for name, ip := range x.chassisIP {
		if name == self {
			continue
		}
		if other, dup := seen[ip]; dup || ip == vtep {
			*notes = append(*notes, Problem{Object: "chassis " + name, Reason: fmt.Sprintf("encap IP %s is also %s: ignored", ip, other)})
			continue
		}
		seen[ip] = name
		out = append(out, config.Chassis{Name: name, IP: config.IP(ip)})
	}
	slices.SortFunc(out, func(a, b config.Chassis) int { return strings.Compare(a.Name, b.Name) })
	return out
}
