// Package datapath runs xgw's packet pipeline: a batch of frames goes
// through every stage (Geneve decap, routing, zoned conntrack with NAT,
// Geneve encap) and each frame ends in exactly one verdict: transmit on a
// port, pass to the kernel, drop with an enumerated, counted reason, or
// held (copied aside until its next hop's MAC is known).
//
// The walk of one packet (Worker.Process, per frame processOne):
//
//	context.go    pktCtx: what the stages learn about the packet, its
//	              per-packet part cleared in one assignment
//	flowcache.go  fast: the flow cache's probe; a hit applies the cached
//	              flow.Action (flow.Apply) and is done
//	egress.go     fromUnderlay (hypervisor → internet): decap, select the
//	              gateway router by VNI and inner MAC, ct(zone=dnat,nat),
//	              route, ct(commit,zone=snat,nat(src=...)); or, for a
//	              router's distributed gateway port (VNI = the router's
//	              key, route.Topology.RedirectPort), redirected: the
//	              hypervisor routed it, so ct(zone=dnat,nat), next hop,
//	              ct(commit,zone=snat,...), out, no TTL decrement
//	hairpin.go    hairpin (hypervisor → one of the router's NAT
//	              addresses → hypervisor): ct(zone=snat,nat),
//	              ct(zone=dnat,nat) with the address's DNAT, route back,
//	              ct(commit,zone=snat,nat(src=...)) unless an answer
//	ingress.go    fromExternal (internet → hypervisor): select the router
//	              by NAT address, ct(zone=snat,nat), ct(zone=dnat,nat), route
//	              (on an address shared with the host, only what xdp_gw
//	              steers as a possible reply arrives here)
//	validate.go   validate: RFC 1812 input checks (header checksum,
//	              martians) before anything is tracked
//	frag.go       fragment, fragment6: a later IPv4 / IPv6 fragment borrows its first
//	              fragment's ports (package ipfrag) or is held until it
//	              comes; released ones run after the batch (Worker.Extra),
//	              those beyond a batch's share on Worker.Drain
//	track.go      track: one ct(zone=Z[,commit],nat) with its rewrite
//	output.go     routerHop: TTL, L2 toward the external next hop, or the
//	              distributed router's hop and encap toward a chassis
//	              (one hop only for a router with a distributed gateway
//	              port: toLogicalPort)
//	hold.go       holdFrame: on an external next-hop miss, a copy waits in
//	              the worker's preallocated hold queue (bounded per next
//	              hop, per worker and in time, as OVN's buffered packets);
//	              Worker.Ready hands it to the engine once resolved
//	arp.go        ARP for the routers' join-port addresses, over Geneve;
//	              ARP redirected through a distributed gateway port asks
//	              the kernel (its answer reaches OVN as a MAC_Binding)
//	flowcache.go  learn: flow.Derive reads the action off the output
//
// Every stage returns the Drop it decided (DropNone once it set tx or
// pass); processOne counts drops in one place. PlanFlow (flowplan.go)
// replays a synthetic packet of a connection through the same stages
// with conntrack only peeked, and derives both directions' actions for
// the offload manager with the same flow.Derive.
//
// Stages run to completion on the worker goroutine that received the batch;
// nothing in the per-packet path allocates or blocks.
package datapath
