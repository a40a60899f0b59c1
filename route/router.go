package route

import (
	"net/netip"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// Router is a logical router.
type Router struct {
	ID          int // index in Topology.Routers: a dense key for per-router state
	Name        string
	Distributed bool // runs on every chassis; we run its hop for return traffic only
	DNATZone    uint16
	SNATZone    uint16 // zones; 0 for a distributed router without any
	Ports       []*RouterPort
	External    *RouterPort // the external port of a gateway router; nil if distributed

	// Key is the datapath key of a router served through a distributed
	// gateway port (0 otherwise): hypervisors route its egress and
	// redirect it to us (Topology.RedirectPort); we route its return
	// traffic straight onto its tenant switches.
	Key uint32

	table  []routeEntry  // longest prefix first
	table6 []routeEntry6 // the IPv6 table, same order
	nat    []NATRule
	nat6   []NATRule6
	snat4  []snatEntry4 // source-NAT rules by logical prefix, longest first
	snat6  []snatEntry6
}

// RouterPort is a logical router port.
type RouterPort struct {
	Router   *Router
	Name     string
	MAC      packet.MAC
	IP       packet.IP4   // the port's own address; zero if the port is IPv6 only
	Prefix   netip.Prefix // its connected subnet (masked); invalid if IPv6 only
	IP6      IP6          // its own IPv6 address; zero if the port has none
	Prefix6  netip.Prefix // its connected IPv6 subnet (masked); invalid if none
	External bool
	Switch   *Switch // the switch it is attached to; nil if External
	Key      uint16  // its port key on Switch: the Geneve option's inport; 0 if External
	// RedirectKey is the chassisredirect port key of a distributed
	// gateway port (External, of a router with a Key): the outport of
	// traffic redirected to it.
	RedirectKey uint16
}

// Hop is a routing decision: send out of Port to the L2 neighbour NextHop.
type Hop struct {
	Port    *RouterPort
	NextHop packet.IP4 // the route's gateway, or the destination itself if connected
}

// Route is a longest-prefix match of dst over r's connected subnets and
// static routes; on equal lengths a connected subnet wins, as in OVN.
func (r *Router) Route(dst packet.IP4) (Hop, bool) {
	d := dst.Uint32()
	for i := range r.table {
		e := &r.table[i]
		if d&e.mask != e.net {
			continue
		}
		if e.connected {
			return Hop{Port: e.port, NextHop: dst}, true
		}
		return Hop{Port: e.port, NextHop: e.nextHop}, true
	}
	return Hop{}, false
}

// RouteEntry describes one entry of a router's table, for dumps.
type RouteEntry struct {
	Prefix    netip.Prefix
	Connected bool
	Port      *RouterPort
	NextHop   packet.IP4 // zero if Connected
}

// RoutesOut reports whether r sends dst out of its external port.
func (r *Router) RoutesOut(dst packet.IP4) bool {
	hop, ok := r.Route(dst)
	return ok && hop.Port.External
}

// Routes returns r's table in lookup order (longest prefix first). It
// allocates; it is for dumps and tests.
func (r *Router) Routes() []RouteEntry {
	out := make([]RouteEntry, len(r.table))
	for i, e := range r.table {
		out[i] = RouteEntry{Prefix: e.prefix, Connected: e.connected, Port: e.port, NextHop: e.nextHop}
	}
	return out
}

// Port returns r's port called name (control plane and tests).
func (r *Router) Port(name string) (*RouterPort, bool) {
	for _, p := range r.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// NATRule is one NAT rule of a gateway router as plain data, for the
// pipeline to build its nat objects from.
type NATRule struct {
	Type     nat.Kind
	Logical  netip.Prefix // inside network (snat) or address (/32, dnat*)
	External packet.IP4
	// PortMin..PortMax are the source ports to allocate for snat and
	// dnat_and_snat (default 1024-65535); both 0 for dnat.
	PortMin, PortMax uint16
	// Mapping is the snat* rule's mapping behaviour.
	Mapping nat.Mapping
}

// NATRules returns r's IPv4 NAT rules in config order (NATRules6 has the
// IPv6 ones). Read-only.
func (r *Router) NATRules() []NATRule { return r.nat }
