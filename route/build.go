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
	t := &Topology{
		VTEP:           c.Interfaces.Underlay.VTEPIP.Value(),
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
	chassis := map[string]packet.IP4{}
	for _, ch := range c.Chassis {
		t.Chassis = append(t.Chassis, &Chassis{Name: ch.Name, IP: ch.IP.Value()})
		chassis[ch.Name] = ch.IP.Value()
	}
	ports := t.buildRouters(c)
	t.buildSwitches(c, ports, chassis)
	for i, r := range t.Routers {
		r.table = buildTable(r, c.Routers[i].Routes)
		r.nat = buildNAT(&c.Routers[i])
	}
	t.indexExternal()
	return t, nil
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
			pfx := cp.IP.Value()
			rp := &RouterPort{
				Router: r, Name: cp.Name, MAC: cp.MAC.Value(),
				IP: packet.IP4(pfx.Addr().As4()), Prefix: pfx.Masked(), External: cp.External,
				RedirectKey: cp.RedirectKey,
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
func (t *Topology) buildSwitches(c *config.Config, ports map[string]*RouterPort, chassis map[string]packet.IP4) {
	for i, cs := range c.Switches {
		sw := &Switch{
			ID: i, Name: cs.Name, Key: cs.Key,
			routerPortByIP: map[packet.IP4]*RouterPort{},
			logicalByIP:    map[packet.IP4]*LogicalPort{},
		}
		for _, sp := range cs.Ports {
			if sp.IsRouter() {
				rp := ports[sp.RouterPort]
				rp.Switch, rp.Key = sw, sp.Key
				sw.RouterPorts = append(sw.RouterPorts, rp)
				sw.routerPortByIP[rp.IP] = rp
				// A router with a distributed gateway port is reached
				// by redirect only: its tenant ports are no join ports.
				if !rp.Router.Distributed && rp.Router.Key == 0 {
					t.joinPorts[joinKey{sw.Key, rp.MAC}] = rp
				}
				continue
			}
			lp := &LogicalPort{
				Switch: sw, Name: sp.Name, Key: sp.Key,
				MAC: sp.MAC.Value(), IP: sp.IP.Value(), Chassis: chassis[sp.Chassis],
			}
			sw.LogicalPorts = append(sw.LogicalPorts, lp)
			sw.logicalByIP[lp.IP] = lp
		}
		t.Switches = append(t.Switches, sw)
		t.switchByKey[sw.Key] = sw
	}
}

// buildTable compiles r's connected subnets and static routes. A static
// route leaves through the port whose subnet holds its next hop (validation
// guarantees one; port subnets of a router do not overlap).
func buildTable(r *Router, routes []config.Route) []routeEntry {
	var table []routeEntry
	for _, p := range r.Ports {
		table = append(table, newEntry(p.Prefix, p, true, packet.IP4{}))
	}
	for _, rt := range routes {
		nh := rt.NextHop.Value()
		for _, p := range r.Ports {
			if p.Prefix.Contains(nh.Addr()) {
				table = append(table, newEntry(rt.Prefix.Value(), p, false, nh))
				break
			}
		}
	}
	sortTable(table)
	return table
}

// buildNAT turns rules into plain data with concrete port ranges.
func buildNAT(r *config.Router) []NATRule {
	out := make([]NATRule, 0, len(r.NAT))
	for _, n := range r.NAT {
		rule := NATRule{Type: n.Type.Value(), Logical: n.LogicalIP.Value(), External: n.ExternalIP.Value(), Mapping: n.Mapping.Value()}
		if lo, hi, ok := config.DefaultPortsFor(rule.Type, r.HostShared(n)); ok {
			rule.PortMin, rule.PortMax = lo, hi
			if n.PortRange != "" {
				rule.PortMin, rule.PortMax, _ = n.PortRange.Parse()
			}
		}
		out = append(out, rule)
	}
	return out
}

// indexExternal indexes external addresses (NAT and external port) by owner
// and lists the external next hops to keep resolved.
func (t *Topology) indexExternal() {
	for _, r := range t.Routers {
		if r.External != nil {
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
}
