package route

import (
	"net/netip"
	"sort"
)

// routeEntry6 is routeEntry for IPv6: the prefix and its mask as two
// 64-bit words, so that a lookup stays two ANDs and two compares per
// entry and never builds a netip value.
type routeEntry6 struct {
	netHi, netLo, maskHi, maskLo uint64
	bits                         int
	connected                    bool
	port                         *RouterPort
	nextHop                      IP6
	prefix                       netip.Prefix
}

func newEntry6(p netip.Prefix, port *RouterPort, connected bool, nextHop IP6) routeEntry6 {
	p = p.Masked()
	mh, ml := masks6(p.Bits())
	nh, nl := halves(p.Addr().As16())
	return routeEntry6{netHi: nh & mh, netLo: nl & ml, maskHi: mh, maskLo: ml, bits: p.Bits(),
		connected: connected, port: port, nextHop: nextHop, prefix: p}
}

// matches reports whether the address with words hi, lo is in e's prefix.
func (e *routeEntry6) matches(hi, lo uint64) bool {
	return hi&e.maskHi == e.netHi && lo&e.maskLo == e.netLo
}

// sortTable6 is sortTable for IPv6 entries.
func sortTable6(t []routeEntry6) {
	sort.SliceStable(t, func(i, j int) bool {
		if t[i].bits != t[j].bits {
			return t[i].bits > t[j].bits
		}
		return t[i].connected && !t[j].connected
	})
}

// Hop6 is an IPv6 routing decision: send out of Port to the L2 neighbour
// NextHop (resolved by neighbour discovery, the kernel's on the external
// side).
type Hop6 struct {
	Port    *RouterPort
	NextHop IP6 // the route's gateway, or the destination itself if connected
}

// Route6 is Route for IPv6: a longest-prefix match of dst over r's
// connected IPv6 subnets and IPv6 static routes ("::/0" is the default);
// on equal lengths a connected subnet wins, as in OVN. It does not
// allocate.
func (r *Router) Route6(dst IP6) (Hop6, bool) {
	hi, lo := halves(dst)
	for i := range r.table6 {
		e := &r.table6[i]
		if !e.matches(hi, lo) {
			continue
		}
		if e.connected {
			return Hop6{Port: e.port, NextHop: dst}, true
		}
		return Hop6{Port: e.port, NextHop: e.nextHop}, true
	}
	return Hop6{}, false
}

// RoutesOut6 reports whether r sends dst out of its external port.
func (r *Router) RoutesOut6(dst IP6) bool {
	hop, ok := r.Route6(dst)
	return ok && hop.Port.External
}

// RouteEntry6 describes one entry of a router's IPv6 table, for dumps.
type RouteEntry6 struct {
	Prefix    netip.Prefix
	Connected bool
	Port      *RouterPort
	NextHop   IP6 // zero if Connected
}

// Routes6 returns r's IPv6 table in lookup order (longest prefix first).
// It allocates; it is for dumps and tests. Routes lists the IPv4 table.
func (r *Router) Routes6() []RouteEntry6 {
	out := make([]RouteEntry6, len(r.table6))
	for i, e := range r.table6 {
		out[i] = RouteEntry6{Prefix: e.prefix, Connected: e.connected, Port: e.port, NextHop: e.nextHop}
	}
	return out
}
