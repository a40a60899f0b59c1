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

// Neighbors6 is Neighbors for IPv6 next hops, which the kernel resolves
// by neighbour discovery (neigh.Table implements both). Lookup6 is called
// per packet and must not allocate or block.
type Neighbors6 interface {
	Lookup6(ip IP6) (packet.MAC, bool)
}

// StaticNeighbors6 is a fixed IPv6 neighbour table.
type StaticNeighbors6 map[IP6]packet.MAC

// Lookup6 implements Neighbors6.
func (n StaticNeighbors6) Lookup6(ip IP6) (packet.MAC, bool) {
	m, ok := n[ip]
	return m, ok
}
