// Package nat translates addresses and ports for the gateway router's SNAT,
// DNAT and dnat_and_snat rules, the way OVS ct(nat) and Linux nf_nat do.
//
// It has two halves. The slow half chooses a connection's reply tuple when
// conntrack commits it (SNAT.ChooseReply, DNAT.ChooseReply): the translation
// lives only in that tuple pair, so the fast path and conntrack need no other
// NAT state. The hot half rewrites frames to a target tuple (Target, Rewrite,
// RewriteICMPError) with incremental checksums (RFC 1624) and no allocation.
package nat
