package route

import (
	"fmt"
	"slices"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

// DefaultICMPRate is how many ICMP messages per second the routers generate
// for one source address when the config does not say.
const DefaultICMPRate = 100

// Build validates c and compiles it into a Topology. It does not modify c.
// Everything a lookup needs is resolved here (references to pointers, text
// to addresses, routes to sorted tables) so that lookups never fail for
// want of data and never allocate.
func Build(c *config.Config) (*Topology, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("route: invalid config: %w", err)
	}
	return BuildValid(c), nil
}

// BuildValid is Build for a c that has passed c.Validate as it is (OVN
// mode's translation validates what it hands over): at 1,000 routers the
// validation is a quarter of a live change's cost. Given a c that does
// not validate, the topology is unspecified.
func BuildValid(c *config.Config) *Topology {
	t := &Topology{
		VTEP:           c.Interfaces.Underlay.VTEPIP.Value(),
		VTEP6:          ip6Of(c.Interfaces.Underlay.VTEPIP6.Value()),
		GenevePort:     c.Geneve.Port,
		GeneveTTL:      c.Geneve.TTL,
		GeneveChecksum: c.Geneve.ChecksumEnabled(),
		CheckOutport:   c.Geneve.CheckOutportEnabled(),
		ICMPRate:       c.ICMP.Rate,
		ICMPBurst:      c.ICMP.Burst,
		joinPorts:      map[joinKey]*RouterPort{},
		redirects:      map[uint32]*RouterPort{},
		switchByKey:    map[uint32]*Switch{},
		byExternalIP:   map[packet.IP4]*Router{},
		byExternalIP6:  map[IP6]*Router{},
	}
	switch {
	case t.ICMPRate == 0:
		t.ICMPRate = DefaultICMPRate
	case t.ICMPRate < 0:
		t.ICMPRate = 0
	}
	if t.ICMPBurst <= 0 {
		t.ICMPBurst = max(t.ICMPRate, 1)
	}
	chassis := map[string]*Chassis{}
	for _, ch := range c.Chassis {
		a := ch.IP.Value()
		x := &Chassis{Name: ch.Name}
		if ip, ok := packet.IP4From(a); ok {
			x.IP = ip
			t.Chassis = append(t.Chassis, x)
		} else {
			x.IP6 = ip6Of(a)
			t.Chassis6 = append(t.Chassis6, x)
		}
		chassis[ch.Name] = x
	}
	ports := t.buildRouters(c)
	t.buildSwitches(c, ports, chassis)
	for i, r := range t.Routers {
		r.table, r.table6 = buildTable(r, c.Routers[i].Routes)
		r.nat, r.nat6 = buildNAT(&c.Routers[i])
		r.indexSNAT()
	}
	t.indexExternal()
	return t
}

// buildRouters creates routers and their ports; it returns the ports by name
// for the switches to attach.
func (t *Topology) buildRouters(c *config.Config) map[string]*RouterPort {
	byName := map[string]*RouterPort{}
	for i, cr := range c.Routers {
		r := &Router{
			ID: i, Name: cr.Name, Distributed: cr.Distributed, Key: cr.Key,
			DNATZone: cr.Zones.DNAT, SNATZone: cr.Zones.SNAT,
		}
		for _, cp := range cr.Ports {
			v4, v6, _ := cp.IP.Networks()
			rp := &RouterPort{Router: r, Name: cp.Name, MAC: cp.MAC.Value(), External: cp.External,
				RedirectKey: cp.RedirectKey}
			if v4.IsValid() {
				rp.IP, rp.Prefix = packet.IP4(v4.Addr().As4()), v4.Masked()
			}
			if v6.IsValid() {
				rp.IP6, rp.Prefix6 = v6.Addr().As16(), v6.Masked()
			}
			r.Ports = append(r.Ports, rp)
			if rp.External {
				r.External = rp
				if r.Key != 0 {
					t.redirects[r.Key] = rp
				}
			}
			byName[rp.Name] = rp
		}
		t.Routers = append(t.Routers, r)
	}
	return byName
}

// buildSwitches creates switches, attaches router ports and binds VMs.
func (t *Topology) buildSwitches(c *config.Config, ports map[string]*RouterPort, chassis map[string]*Chassis) {
	for i, cs := range c.Switches {
		sw := &Switch{
			ID: i, Name: cs.Name, Key: cs.Key,
			routerPortByIP:  map[packet.IP4]*RouterPort{},
			logicalByIP:     map[packet.IP4]*LogicalPort{},
			routerPortByIP6: map[IP6]*RouterPort{},
			logicalByIP6:    map[IP6]*LogicalPort{},
		}
		for _, sp := range cs.Ports {
			if sp.IsRouter() {
				rp := ports[sp.RouterPort]
				rp.Switch, rp.Key = sw, sp.Key
				sw.RouterPorts = append(sw.RouterPorts, rp)
				if rp.Prefix.IsValid() {
					sw.routerPortByIP[rp.IP] = rp
				}
				if rp.Prefix6.IsValid() {
					sw.routerPortByIP6[rp.IP6] = rp
				}
				// A router with a distributed gateway port is reached
				// by redirect only: its tenant ports are no join ports.
				if !rp.Router.Distributed && rp.Router.Key == 0 {
					t.joinPorts[joinKey{sw.Key, rp.MAC}] = rp
				}
				continue
			}
			v4, v6, _ := sp.IP.Parse()
			ch := chassis[sp.Chassis]
			lp := &LogicalPort{
				Switch: sw, Name: sp.Name, Key: sp.Key, MAC: sp.MAC.Value(),
				IP: sp.IP.Value(), IP6: ip6Of(v6), Chassis: ch.IP, Chassis6: ch.IP6,
			}
			sw.LogicalPorts = append(sw.LogicalPorts, lp)
			if v4.IsValid() {
				sw.logicalByIP[lp.IP] = lp
			}
			if v6.IsValid() {
				sw.logicalByIP6[lp.IP6] = lp
			}
		}
		t.Switches = append(t.Switches, sw)
		t.switchByKey[sw.Key] = sw
	}
}

// buildTable compiles r's connected subnets and static routes, one table
// per family. A static route leaves through the port whose subnet holds
// its next hop (validation guarantees one; port subnets of a router do
// not overlap).
func buildTable(r *Router, routes []config.Route) ([]routeEntry, []routeEntry6) {
	var table []routeEntry
	var table6 []routeEntry6
	for _, p := range r.Ports {
		if p.Prefix.IsValid() {
			table = append(table, newEntry(p.Prefix, p, true, packet.IP4{}))
		}
		if p.Prefix6.IsValid() {
			table6 = append(table6, newEntry6(p.Prefix6, p, true, IP6{}))
		}
	}
	for _, rt := range routes {
		nh := rt.NextHop.Value()
		for _, p := range r.Ports {
			if nh.Is4() && p.Prefix.IsValid() && p.Prefix.Contains(nh) {
				table = append(table, newEntry(rt.Prefix.Value(), p, false, packet.IP4(nh.As4())))
				break
			}
			if nh.Is6() && p.Prefix6.IsValid() && p.Prefix6.Contains(nh) {
				table6 = append(table6, newEntry6(rt.Prefix.Value(), p, false, nh.As16()))
				break
			}
		}
	}
	sortTable(table)
	sortTable6(table6)
	return table, table6
}

// buildNAT turns rules into plain data with concrete port ranges, IPv4
// and IPv6 rules apart.
func buildNAT(r *config.Router) ([]NATRule, []NATRule6) {
	out := make([]NATRule, 0, len(r.NAT))
	var out6 []NATRule6
	for _, n := range r.NAT {
		kind, ext := n.Type.Value(), n.ExternalIP.Value()
		var lo, hi uint16
		if l, h, ok := config.DefaultPortsFor(kind, r.HostShared(n)); ok {
			lo, hi = l, h
			if n.PortRange != "" {
				lo, hi, _ = n.PortRange.Parse()
			}
		}
		if ext.Is6() {
			out6 = append(out6, NATRule6{Type: kind, Logical: n.LogicalIP.Value(), External: ext.As16(),
				PortMin: lo, PortMax: hi, Mapping: n.Mapping.Value()})
			continue
		}
		out = append(out, NATRule{Type: kind, Logical: n.LogicalIP.Value(), External: packet.IP4(ext.As4()),
			PortMin: lo, PortMax: hi, Mapping: n.Mapping.Value()})
	}
	return out, out6
}

// indexExternal indexes external addresses (NAT and external port) by owner
// and lists the external next hops to keep resolved.
func (t *Topology) indexExternal() {
	for _, r := range t.Routers {
		if r.External != nil && r.External.Prefix.IsValid() {
			t.byExternalIP[r.External.IP] = r
		}
		for _, n := range r.nat {
			t.byExternalIP[n.External] = r
			if !slices.Contains(t.natIPs, n.External) {
				t.natIPs = append(t.natIPs, n.External)
			}
		}
		for _, e := range r.table {
			if !e.connected && e.port.External && !slices.Contains(t.nextHops, e.nextHop) {
				t.nextHops = append(t.nextHops, e.nextHop)
			}
		}
	}
	for ip := range t.byExternalIP {
		t.externalIPs = append(t.externalIPs, ip)
	}
	slices.SortFunc(t.externalIPs, packet.IP4.Compare)
	slices.SortFunc(t.natIPs, packet.IP4.Compare)
	slices.SortFunc(t.nextHops, packet.IP4.Compare)
	t.indexExternal6()
}

// indexExternal6 is indexExternal for IPv6, and lists each gateway
// router's routed IPv6 prefixes for InboundRouter6: static routes through
// a join port that no source-NAT rule covers whole (join subnets are
// left out: tenants reuse them, as they reuse their IPv4 join subnets).
func (t *Topology) indexExternal6() {
	for _, r := range t.Routers {
		if r.External != nil && r.External.Prefix6.IsValid() {
			t.byExternalIP6[r.External.IP6] = r
		}
		for _, n := range r.nat6 {
			t.byExternalIP6[n.External] = r
			if !slices.Contains(t.natIPs6, n.External) {
				t.natIPs6 = append(t.natIPs6, n.External)
			}
		}
		for i := range r.table6 {
			e := &r.table6[i]
			if !e.connected && e.port.External && !slices.Contains(t.nextHops6, e.nextHop) {
				t.nextHops6 = append(t.nextHops6, e.nextHop)
			}
			if !r.Distributed && !e.connected && !e.port.External && !r.natCovers6(e.prefix) {
				t.inbound6 = append(t.inbound6, inbound6{e: e, r: r})
			}
		}
	}
	for ip := range t.byExternalIP6 {
		t.externalIPs6 = append(t.externalIPs6, ip)
	}
	slices.SortFunc(t.externalIPs6, compare6)
	slices.SortFunc(t.natIPs6, compare6)
	slices.SortFunc(t.nextHops6, compare6)
}
