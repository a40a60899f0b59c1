// Package nat translates addresses and ports for the gateway router's SNAT,
// DNAT and dnat_and_snat rules, the way OVS ct(nat) and Linux nf_nat do.
//
// It has two halves. The slow half chooses a connection's reply tuple when
// conntrack commits it (SNAT.ChooseReply, DNAT.ChooseReply): the translation
// lives only in that tuple pair, so the fast path and conntrack need no other
// NAT state. The hot half rewrites frames to a target tuple (Target, Rewrite,
// RewriteICMPError) with incremental checksums (RFC 1624) and no allocation.
//
// One piece of NAT state lives outside conntrack: the endpoint-independent
// mappings (Mappings, mapping.go) of rules configured with
// "mapping: endpoint-independent" (RFC 4787 REQ-1, RFC 5382 REQ-1). They
// are consulted only when a connection is committed, counted by reference
// and released through conntrack.Releaser when a mapping's last connection
// is removed, so the established path never sees them.
package nat
