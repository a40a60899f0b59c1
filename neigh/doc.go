// Package neigh gives the datapath the kernel's neighbour table (ARP for
// IPv4, neighbour discovery for IPv6): a route.Neighbors that answers
// "which MAC for this next hop?" from a lock-free snapshot of the
// neighbour entries on xgw's interfaces. Lookup takes an IPv4 next hop,
// Lookup6 an IPv6 one (often a router's link-local address); one Table
// mirrors both families, keyed by netip.Addr inside and published as one
// map per family so that an IPv4 lookup costs what it always did.
//
// The kernel owns address resolution (DESIGN.md: "the kernel owns the
// control plane"). This package only mirrors it and, on a miss, asks the
// kernel to resolve: it creates a managed neighbour entry (NTF_EXT_MANAGED,
// Linux 5.16+), which the kernel resolves and keeps fresh by itself, so a
// busy next hop never ages out from under the fast path. On kernels that
// refuse managed entries it falls back to a UDP datagram to the discard
// port, which makes the kernel ARP as for any packet.
//
// Three goroutines, none on the packet path:
//
//	watch    netlink neighbour events → working state → published snapshot
//	resolve  misses (from a buffered channel) → RouteGet → managed entry
//	Lookup   (callers, any number) → one atomic load and one map read
package neigh
