// Package datapath runs xgw's packet pipeline: a batch of frames goes
// through every stage (Geneve decap, routing, zoned conntrack with NAT,
// Geneve encap) and each frame ends in exactly one verdict: transmit on a
// port, pass to the kernel, or drop with an enumerated, counted reason.
//
// The walk of one packet (Worker.Process, per frame processOne):
//
//	context.go    pktCtx: what the stages learn about the packet, its
//	              per-packet part cleared in one assignment
//	flowcache.go  fast: the flow cache's probe; a hit applies the cached
//	              flow.Action (flow.Apply) and is done
//	egress.go     fromUnderlay (hypervisor → internet): decap, select the
//	              gateway router by VNI and inner MAC, ct(zone=dnat,nat),
//	              route, ct(commit,zone=snat,nat(src=...))
//	ingress.go    fromExternal (internet → hypervisor): select the router
//	              by NAT address, ct(zone=snat,nat), ct(zone=dnat,nat), route
//	validate.go   validate: RFC 1812 input checks (header checksum,
//	              martians) before anything is tracked
//	frag.go       fragment: a later IPv4 fragment borrows its first
//	              fragment's ports (package ipfrag) or is held until it
//	              comes; released ones run after the batch (Worker.Extra)
//	track.go      track: one ct(zone=Z[,commit],nat) with its rewrite
//	output.go     routerHop: TTL, L2 toward the external next hop, or the
//	              distributed router's hop and encap toward a chassis
//	arp.go        ARP for the routers' join-port addresses, over Geneve
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
