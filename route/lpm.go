package route

import (
	"net/netip"
	"sort"

	"github.com/xgw-dev/xgw/packet"
)

// routeEntry is one prefix of a router's table, with the mask precomputed
// so that a lookup is an AND and a compare per entry. A router has a
// handful of entries (its connected subnets and a few static routes), for
// which a linear scan over a slice sorted by prefix length is as fast as a
// trie and much simpler; revisit if tables grow to hundreds of routes.
type routeEntry struct {
	net, mask uint32
	bits      int
	connected bool
	port      *RouterPort
	nextHop   packet.IP4
	prefix    netip.Prefix
}

func newEntry(p netip.Prefix, port *RouterPort, connected bool, nextHop packet.IP4) routeEntry {
	p = p.Masked()
	var mask uint32
	if p.Bits() > 0 {
		mask = ^uint32(0) << (32 - p.Bits())
	}
	return routeEntry{
		net: packet.IP4(p.Addr().As4()).Uint32(), mask: mask, bits: p.Bits(),
		connected: connected, port: port, nextHop: nextHop, prefix: p,
	}
}

// sortTable orders entries longest prefix first and, at equal length,
// connected before static, so the first match is the best one.
func sortTable(t []routeEntry) {
	sort.SliceStable(t, func(i, j int) bool {
		if t[i].bits != t[j].bits {
			return t[i].bits > t[j].bits
		}
		return t[i].connected && !t[j].connected
	})
}
