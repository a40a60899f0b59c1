// Package route is the compiled, read-only logical topology that the
// per-packet pipeline queries: which gateway router a Geneve frame is
// addressed to, which router owns an external address, where a router
// forwards a destination, whether a source is NATed or routed, and which
// chassis hosts a VM.
//
// Both families: the IPv4 lookups take packet.IP4 and are what they were
// before IPv6; each has an IPv6 twin (Route6, RouterByExternalIP6,
// RouterPortByIP6, LogicalPort6, NATRules6, ...) that takes an IP6 (16
// bytes). IPv6 rules and routes never appear in the IPv4 lists. SNAT4 and
// SNAT6 say, per family, whether a rule translates a source or it is
// routed without NAT, OVN's default for IPv6 prefixes no rule covers;
// InboundRouter6 classifies such routed IPv6 arriving from outside.
//
// Build turns a validated config.Config into a Topology once; after that
// nothing is written, so any number of workers may query it concurrently
// without locks, and a reload builds a new Topology and swaps the pointer.
// Every lookup is a map access with a comparable, pointer-free key or a
// scan of a small pre-sorted slice: none allocates (see alloc_test.go).
//
// The seed's two walks through it (DESIGN.md):
//
//	egress:  JoinPort(VNI 1, GR join MAC) -> gr1-join; gr1.Route(172.31.6.24)
//	         -> gr1-ext, next hop 172.31.5.1 (MAC from Neighbors)
//	ingress: RouterByExternalIP(123.123.123.123) -> gr1 (after un-SNAT)
//	         gr1.Route(10.199.100.10) -> gr1-join, next hop 172.16.255.2;
//	         RouterPortByIP(join, 172.16.255.2) -> dr-join (distributed: the
//	         gateway runs its hop); dr.Route(10.199.100.10) -> dr-sw1,
//	         connected; LogicalPort(sw1, 10.199.100.10) -> key 2 on node01:
//	         encap VNI 9, option 1<<16|2, to 172.31.1.21
//
// Through a distributed gateway port (examples/distributed-gateway.yaml,
// OVN's chassisredirect shape) the hypervisor has routed already:
//
//	egress:  RedirectPort(VNI 3, dr's key) -> dr-ext (outport must be its
//	         RedirectKey 3); dr.Route(172.31.6.24) for the next hop only
//	ingress: RouterByExternalIP(123.123.123.123) -> dr; dr.Route(10.199.100.10)
//	         -> dr-sw1 on sw1, connected (dr.Key != 0: no second router);
//	         LogicalPort(sw1, 10.199.100.10): encap VNI 2, option 4<<16|2
package route
