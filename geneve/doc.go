// Package geneve encodes and decodes Geneve tunnels (RFC 8926) as OVN uses
// them: Transparent Ethernet Bridging payloads, a 24-bit VNI naming the
// logical datapath, and one TLV option (class 0x0102, type 0x80) carrying the
// logical ingress and egress port keys.
//
// The underlay may be IPv4 (Decap, Encap) or IPv6 (DecapDual, Encap6);
// Decap stays IPv4-only so that its callers keep their behaviour.
//
// Like package packet, it works on []byte views and allocates nothing on
// the per-packet path: Decap fills a caller-owned Decapped, Encap writes into
// headroom the caller reserved in front of the inner frame, and options are
// walked with an iterator that aliases the frame.
package geneve
