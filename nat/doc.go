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
//
// # NAT66
//
// IPv6 has the same halves for conntrack.Table6 connections: SNAT6 and
// DNAT6 choose reply tuples (SNAT6 searches ports as SNAT does),
// Target6, Rewrite6 and RewriteICMPError6 rewrite frames decoded by
// packet.Parsed.DecodeDual. Only the bytes differ: addresses are 16 bytes
// and enter the L4 checksums through the pseudo-header
// (packet.Delta.AddUpdate128), there is no IP header checksum, and every
// ICMPv6 checksum covers the pseudo-header too (RFC 4443 §2.3), so an
// address change patches it as it does TCP's and UDP's. An ICMPv6 error's
// quote is translated when its TCP, UDP or ICMPv6 echo header follows the
// quoted header, directly or after extension headers (walked as
// packet.WalkIPv6Ext walks them, and kept as they are); a quote whose
// chain is cut or malformed, a non-first fragment, or one with a routing
// header that has segments left (its L4 checksum covers another
// destination) is refused (the caller drops it, counted). IPv6 mapping is
// endpoint-dependent only, as OVS and OVN do it: the endpoint-independent
// mappings are IPv4's.
package nat
