package packet

import (
	"bytes"
	"net/netip"
)

// IP6 is an IPv6 address in network byte order, a value type like IP4 so
// that flow keys built from it stay comparable and pointer-free.
type IP6 [16]byte

// IP6From converts a netip.Addr; ok is false if a is not IPv6. An
// IPv4-mapped address (::ffff:a.b.c.d) is IPv6 here: it stays 16 bytes
// and IsV4Mapped reports it, so a martian check can refuse it.
func IP6From(a netip.Addr) (IP6, bool) {
	if !a.Is6() {
		return IP6{}, false
	}
	return IP6(a.As16()), true
}

// MustIP6 parses s and panics on error; for tests and constants only.
func MustIP6(s string) IP6 {
	a, err := netip.ParseAddr(s)
	if err != nil {
		panic(err)
	}
	ip, ok := IP6From(a)
	if !ok {
		panic("not IPv6: " + s)
	}
	return ip
}

// Addr returns the address as a netip.Addr (never zoned).
func (ip IP6) Addr() netip.Addr { return netip.AddrFrom16(ip) }

// String formats ip as RFC 5952 text (via netip); v4-mapped addresses
// print as ::ffff:a.b.c.d.
func (ip IP6) String() string { return ip.Addr().String() }

// Compare orders addresses numerically, for sorting.
func (ip IP6) Compare(o IP6) int { return bytes.Compare(ip[:], o[:]) }

// IsZero reports whether ip is :: (the unspecified address).
func (ip IP6) IsZero() bool { return ip == IP6{} }

// The predicates below are the RFC 4291 special ranges that router
// martian checks (RFC 4291 §2.5, RFC 4942, RFC 6890) refuse as source or
// destination of forwarded traffic.

// IsUnspecified reports ::, RFC 4291 §2.5.2.
func (ip IP6) IsUnspecified() bool { return ip == IP6{} }

// IsLoopback reports ::1, RFC 4291 §2.5.3.
func (ip IP6) IsLoopback() bool { return ip == IP6{15: 1} }

// IsMulticast reports ff00::/8, RFC 4291 §2.7.
func (ip IP6) IsMulticast() bool { return ip[0] == 0xff }

// IsLinkLocalUnicast reports fe80::/10, RFC 4291 §2.5.6.
func (ip IP6) IsLinkLocalUnicast() bool { return ip[0] == 0xfe && ip[1]&0xc0 == 0x80 }

// IsLinkLocalMulticast reports link-local scope multicast (ffX2::/16,
// ff02::1 and ff02::1:ffXX:XXXX among them),
// which a router never forwards (RFC 4291 §2.7).
func (ip IP6) IsLinkLocalMulticast() bool { return ip[0] == 0xff && ip[1]&0x0f == 0x02 }

// IsV4Mapped reports ::ffff:0:0/96, RFC 4291 §2.5.5.2: such addresses
// never appear on the wire (RFC 4942 §2.2).
func (ip IP6) IsV4Mapped() bool {
	return ip[10] == 0xff && ip[11] == 0xff && ip[0]|ip[1]|ip[2]|ip[3]|ip[4]|ip[5]|ip[6]|ip[7]|ip[8]|ip[9] == 0
}

// SolicitedNode returns ip's solicited-node multicast address
// ff02::1:ffXX:XXXX (RFC 4291 §2.7.1), where neighbour solicitations for
// ip are sent.
func (ip IP6) SolicitedNode() IP6 {
	return IP6{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: ip[13], 14: ip[14], 15: ip[15]}
}

// MulticastMAC is the Ethernet destination for an IPv6 multicast address,
// 33:33 and its low 32 bits (RFC 2464 §7).
func (ip IP6) MulticastMAC() MAC { return MAC{0x33, 0x33, ip[12], ip[13], ip[14], ip[15]} }
