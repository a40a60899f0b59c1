// Package packet provides typed views over raw frame bytes (Ethernet with an
// optional 802.1Q tag, IPv4, IPv6 with its extension headers, UDP, TCP,
// ICMPv4, ICMPv6 with neighbour discovery) and Internet checksums, full
// and incremental (RFC 1071, RFC 1624), with the IPv4 and IPv6
// pseudo-headers.
//
// Decode parses IPv4 frames only; DecodeDual parses both families and
// sets Parsed.Family. The split keeps "OK means IPv4" true for every
// caller written before IPv6, until it moves to DecodeDual.
//
// Views are []byte types in the style of gVisor's pkg/tcpip/header: they do
// not copy, do not allocate, and trust the caller to have checked length
// first (Decode does that for a whole frame). Addresses are fixed-size
// arrays so that keys built from them stay pointer-free.
package packet
