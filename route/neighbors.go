package route

import "github.com/xgw-dev/xgw/packet"

// Neighbors resolves an L2 neighbour (an external next hop or a chassis
// VTEP) to its MAC. The kernel owns ARP: the AF_XDP side implements this
// from netlink; tests use StaticNeighbors. Lookup is called per packet and
// must not allocate or block.
type Neighbors interface {
	Lookup(ip packet.IP4) (packet.MAC, bool)
}

// StaticNeighbors is a fixed neighbour table.
type StaticNeighbors map[packet.IP4]packet.MAC

// Lookup implements Neighbors.
func (n StaticNeighbors) Lookup(ip packet.IP4) (packet.MAC, bool) {
	m, ok := n[ip]
	return m, ok
}
