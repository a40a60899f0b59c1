// Package packet provides typed views over raw frame bytes (Ethernet with an
// optional 802.1Q tag, IPv4, UDP, TCP, ICMPv4) and Internet checksums, full
// and incremental (RFC 1071, RFC 1624).
//
// Views are []byte types in the style of gVisor's pkg/tcpip/header: they do
// not copy, do not allocate, and trust the caller to have checked length
// first (Decode does that for a whole frame). Addresses are fixed-size
// arrays so that keys built from them stay pointer-free.
package packet
