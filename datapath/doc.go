// Package datapath runs xgw's packet pipeline: a batch of frames goes
// through every stage (Geneve decap, routing, zoned conntrack with NAT,
// Geneve encap) and each frame ends in exactly one verdict: transmit on a
// port, pass to the kernel, or drop with an enumerated, counted reason.
//
// The walk of one packet, egress (hypervisor → internet):
//
//	egress.go   decap, select the gateway router by VNI and inner MAC,
//	            route, ct(zone=dnat,nat), ct(commit,zone=snat,nat(src=...))
//	output.go   rewrite L2 toward the next hop on the external port
//
// and ingress (internet → hypervisor):
//
//	ingress.go  select the router by NAT address, ct(zone=snat,nat), route,
//	            ct(zone=dnat,nat)
//	output.go   run the distributed router's hop, encap to the chassis
//
// Stages run to completion on the worker goroutine that received the batch;
// nothing in the per-packet path allocates or blocks.
package datapath
