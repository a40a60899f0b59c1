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
	lspByName  map[string]*nbdb.LogicalSwitchPort
	pbByName   map[string]*sbdb.PortBinding
	dpKey      map[string]int      // NB router/switch UUID -> datapath tunnel key
	chassisIP  map[string]string   // chassis name -> the encap IP taken (chassisList)
	encapIPs   map[string][]string // chassis name -> its geneve encap IPs
	chassisNm  map[string]string   // Chassis UUID -> name
	bridgeMaps map[string]string
	// rec collects the routers and switches the fragment being built
	// reads (translate's per-router reuse); nil records nothing.
	rec *deps
}

func newIndex(s *snapshot, bridgeMaps map[string]string) *index {
	x := &index{s: s, lrpByName: map[string]*nbdb.LogicalRouterPort{}, routerOf: map[string]*nbdb.LogicalRouter{},
		switchOf: map[string]*nbdb.LogicalSwitch{}, lspOfLRP: map[string]*nbdb.LogicalSwitchPort{}, lspByName: map[string]*nbdb.LogicalSwitchPort{},
		pbByName: map[string]*sbdb.PortBinding{}, dpKey: map[string]int{}, chassisIP: map[string]string{}, encapIPs: map[string][]string{},
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
		x.lspByName[p.Name] = p
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
				x.encapIPs[ch.Name] = append(x.encapIPs[ch.Name], en.IP)
			}
		}
		slices.Sort(x.encapIPs[ch.Name])
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

// portNetworks returns an LRP's networks as config.CIDR: its IPv4 and/or
// its IPv6 network ("172.16.255.3/24 fd00:16::3/64"). OVN allows several
// networks of one family on a port; xgw routes with one per family, and
// serving only one of several would drop what OVN routes to the others,
// so a port with two of one family is an error (its router is refused,
// or, on a distributed router, the port is not served). IPv6 link-local
// networks are skipped: OVN derives the port's link-local address from
// its MAC anyway, and so does xgw.
func portNetworks(p *nbdb.LogicalRouterPort) (config.CIDR, error) {
	var v4, v6 []string
	for _, n := range p.Networks {
		pf, err := netip.ParsePrefix(n)
		switch {
		case err != nil:
			return "", fmt.Errorf("router port %s: network %q is not an address with a prefix length", p.Name, n)
		case pf.Addr().Is4():
			v4 = append(v4, n)
		case pf.Addr().IsLinkLocalUnicast():
		default:
			v6 = append(v6, n)
		}
	}
	slices.Sort(v4)
	slices.Sort(v6)
	switch {
	case len(v4)+len(v6) == 0:
		return "", fmt.Errorf("router port %s has no network", p.Name)
	case len(v4) > 1:
		return "", fmt.Errorf("router port %s has %d IPv4 networks (%s); xgw serves one per family per port", p.Name, len(v4), strings.Join(v4, " "))
	case len(v6) > 1:
		return "", fmt.Errorf("router port %s has %d IPv6 networks (%s); xgw serves one per family per port", p.Name, len(v6), strings.Join(v6, " "))
	}
	return config.CIDR(strings.Join(append(v4, v6...), " ")), nil
}

// subnets are the connected subnets of networks nw (from portNetworks).
func subnets(nw config.CIDR) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Fields(string(nw)) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
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
		case isLinkLocal6(rt.Nexthop):
			add(obj, "an IPv6 link-local next hop (scoped by output_port) is not supported")
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

// isLinkLocal6 reports whether s is an IPv6 link-local address.
func isLinkLocal6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.IsLinkLocalUnicast()
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
	x.rec.router(r.UUID)
	var joins []*nbdb.LogicalSwitch
	external := 0
	for _, p := range x.routerPorts(r) {
		if p.Enabled != nil && !*p.Enabled {
			continue
		}
		nw, err := portNetworks(p)
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
		x.rec.switch_(sw.UUID)
		rp := config.RouterPort{Name: p.Name, MAC: config.MAC(p.MAC), IP: nw}
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
			if owner != nil {
				x.rec.router(owner.UUID) // a gateway router that stops being one joins
			}
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
			nw, err := portNetworks(p)
			if err != nil {
				notes = append(notes, Problem{Object: "router port " + p.Name, Reason: err.Error() + ": not served"})
				continue
			}
			lsp := x.lspOfLRP[p.Name]
			sw := (*nbdb.LogicalSwitch)(nil)
			if lsp != nil {
				sw = x.switchOf[lsp.UUID]
			}
			if sw != nil {
				x.rec.switch_(sw.UUID)
			}
			if sw == nil || x.localnetNetwork(sw) != "" {
				// Not on a tenant switch (e.g. a distributed gateway
				// port): xgw does not route there.
				continue
			}
			cr.Ports = append(cr.Ports, config.RouterPort{Name: p.Name, MAC: config.MAC(p.MAC), IP: nw})
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

// routesAndNAT translates r's static routes and NAT rules, IPv4 and IPv6
// (NAT66), into cr; what it ignores (a prefix or address that does not
// parse, which northd ignores too) is returned as problems. A rule or
// route that mixes families is translated as written and refused with
// its router by validation.
func (x *index) routesAndNAT(r *nbdb.LogicalRouter, cr *config.Router) []Problem {
	var ps []Problem
	for _, u := range r.StaticRoutes {
		rt := x.s.routes[u]
		if rt == nil {
			continue
		}
		pfx, err := netip.ParsePrefix(routePrefix(rt.IPPrefix))
		if err != nil {
			ps = append(ps, Problem{Object: "route " + rt.IPPrefix + " (router " + r.Name + ")", Reason: "not a prefix: ignored"})
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
		if _, err := netip.ParseAddr(n.ExternalIP); err != nil {
			ps = append(ps, Problem{Object: "nat " + n.ExternalIP + " (router " + r.Name + ")", Reason: "external_ip is not an address: ignored"})
			continue
		}
		cn := config.NAT{Type: config.NATType(n.Type), LogicalIP: config.Prefix(routePrefix(n.LogicalIP)),
			ExternalIP: config.IP(n.ExternalIP), PortRange: config.PortRange(n.ExternalPortRange)}
		// The default range is the file's: 61000-65535 when the rule
		// SNATs to the router's own external address, which the host
		// shares (cr's ports are translated before its rules).
		if lo, hi, ok := config.DefaultPortsFor(cn.Type.Value(), cr.HostShared(cn)); ok && cn.PortRange == "" {
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
// and the VMs (VIF ports bound to a chassis) with their addresses that
// are in the subnet of one of those attachments.
func (x *index) switchFragment(sw *nbdb.LogicalSwitch, included map[string]bool, notes *[]Problem) config.Switch {
	cs := config.Switch{Name: sw.Name, Key: uint32(x.dpKey[sw.UUID])}
	x.rec.switch_(sw.UUID)
	var nets []netip.Prefix
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
		if lrp != nil && x.routerOf[lrp.UUID] != nil {
			x.rec.router(x.routerOf[lrp.UUID].UUID)
		}
		if lrp == nil || x.routerOf[lrp.UUID] == nil || !included[x.routerOf[lrp.UUID].UUID] {
			continue
		}
		pb := x.pbByName[p.Name]
		if pb == nil {
			continue // northd has not bound it yet
		}
		nw, err := portNetworks(lrp)
		if err != nil {
			continue
		}
		nets = append(nets, subnets(nw)...)
		cs.Ports = append(cs.Ports, config.SwitchPort{Name: p.Name, Key: uint16(pb.TunnelKey), RouterPort: lrp.Name})
	}
	ips := map[netip.Addr]bool{}
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
		mac, addrs, extra := vifAddresses(pb.MAC)
		if mac == "" {
			continue
		}
		var keep []string
		var dropped []string
		for _, a := range addrs {
			in := slices.ContainsFunc(nets, func(s netip.Prefix) bool { return s.Contains(a) })
			if !in || ips[a] {
				dropped = append(dropped, a.String())
				continue
			}
			keep = append(keep, a.String())
		}
		if len(keep) == 0 || pb.TunnelKey < 1 || pb.TunnelKey > 32767 {
			*notes = append(*notes, Problem{Object: "switch port " + p.Name, Reason: fmt.Sprintf("address %s is outside the router subnets of switch %s, or not unique: not served", strings.Join(append(dropped, extra...), " "), sw.Name)})
			continue
		}
		if len(dropped) > 0 {
			*notes = append(*notes, Problem{Object: "switch port " + p.Name, Reason: fmt.Sprintf("address %s is outside the router subnets of switch %s, or not unique: that address is not served", strings.Join(dropped, " "), sw.Name)})
		}
		if len(extra) > 0 {
			*notes = append(*notes, Problem{Object: "switch port " + p.Name, Reason: fmt.Sprintf("addresses %s: xgw serves the first address of each family (%s): the others are not served", strings.Join(extra, " "), strings.Join(keep, " "))})
		}
		for _, a := range keep {
			ips[netip.MustParseAddr(a)] = true
		}
		cs.Ports = append(cs.Ports, config.SwitchPort{Name: p.Name, Key: uint16(pb.TunnelKey), MAC: config.MAC(mac), IP: config.Addresses(strings.Join(keep, " ")), Chassis: ch})
	}
	return cs
}

// vifAddresses reads a Port_Binding's mac column ("MAC IP [IP...]";
// northd resolves dynamic addresses there): the MAC of the first entry
// that has an address, its first IPv4 and first IPv6 address (IPv4
// first; IPv6 link-local skipped: a VM's link-local address is not
// routed), and the addresses after those of each family (extra), which
// xgw does not serve: config.Addresses holds one per family.
func vifAddresses(macs []string) (mac string, addrs []netip.Addr, extra []string) {
	for _, m := range macs {
		f := strings.Fields(m)
		if len(f) < 2 {
			continue
		}
		var v4, v6 netip.Addr
		for _, t := range f[1:] {
			a, _, _ := strings.Cut(t, "/")
			ip, err := netip.ParseAddr(a)
			switch {
			case err != nil || ip.Zone() != "" || ip.Is4In6() || (ip.Is6() && ip.IsLinkLocalUnicast()) || ip.IsMulticast() || ip.IsUnspecified():
			case ip.Is4() && !v4.IsValid():
				v4 = ip
			case ip.Is6() && !v6.IsValid():
				v6 = ip
			default:
				extra = append(extra, ip.String())
			}
		}
		if !v4.IsValid() && !v6.IsValid() {
			extra = nil
			continue
		}
		for _, a := range []netip.Addr{v4, v6} {
			if a.IsValid() {
				addrs = append(addrs, a)
			}
		}
		return f[0], addrs, extra
	}
	return "", nil, nil
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
// and the fast path's known-VTEP filter. It takes one encap IP per
// chassis (config.Chassis has one), of a family we have a VTEP of (vtep4:
// interfaces.underlay.vtep_ip, vtep6: vtep_ip6), IPv4 first; a chassis
// with several (ovn-encap-ip's comma list) is reported, because Geneve
// from its other addresses is not accepted. It fills x.chassisIP.
func (x *index) chassisList(self string, vtep4, vtep6 netip.Addr, notes *[]Problem) []config.Chassis {
	var out []config.Chassis
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(x.encapIPs)) {
		if name == self {
			continue
		}
		ips := x.encapIPs[name]
		var pick netip.Addr
		for _, fam4 := range []bool{true, false} {
			for _, s := range ips {
				a, err := netip.ParseAddr(s)
				if err != nil || a.Zone() != "" || a.Is4In6() || a.Is4() != fam4 || pick.IsValid() {
					continue
				}
				if (fam4 && vtep4.IsValid()) || (!fam4 && vtep6.IsValid()) {
					pick = a
				}
			}
		}
		if !pick.IsValid() {
			*notes = append(*notes, Problem{Object: "chassis " + name, Reason: fmt.Sprintf("no geneve encap IP (%s) of a family this gateway has a VTEP address of: ignored", strings.Join(ips, ", "))})
			continue
		}
		if pick.IsUnspecified() || pick.IsLoopback() || pick.IsMulticast() || pick.IsLinkLocalUnicast() {
			// Not a tunnel endpoint (config refuses it): one such row
			// must not make every router's validation fail.
			*notes = append(*notes, Problem{Object: "chassis " + name, Reason: fmt.Sprintf("encap IP %s is not a unicast routable address: ignored", pick)})
			continue
		}
		ip := pick.String()
		x.chassisIP[name] = ip
		if len(ips) > 1 {
			*notes = append(*notes, Problem{Object: "chassis " + name, Reason: fmt.Sprintf("several geneve encap IPs (%s): xgw takes %s (one per chassis); Geneve from the others is not accepted", strings.Join(ips, ", "), ip)})
		}
		if other, dup := seen[ip]; dup || pick == vtep4 || pick == vtep6 {
			if !dup {
				other = "this gateway's VTEP"
			}
			*notes = append(*notes, Problem{Object: "chassis " + name, Reason: fmt.Sprintf("encap IP %s is also %s: ignored", ip, other)})
			continue
		}
		seen[ip] = name
		out = append(out, config.Chassis{Name: name, IP: config.IP(ip)})
	}
	return out
}
