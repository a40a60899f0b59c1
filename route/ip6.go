package route

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/xgw-dev/xgw/packet"
)

// IP6 is packet.IP6, the IPv6 address the per-packet lookups take: 16
// bytes in network order, a comparable, pointer-free map key.
type IP6 = packet.IP6

// ip6Of returns a's 16 bytes; the zero IP6 for an invalid or IPv4 a.
func ip6Of(a netip.Addr) IP6 {
	if !a.Is6() {
		return IP6{}
	}
	return a.As16()
}

// halves splits a into two big-endian words, so that a prefix test is two
// ANDs and two compares.
func halves(a IP6) (hi, lo uint64) {
	return binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
}

// masks6 returns the two mask words of a prefix length 0..128.
func masks6(bits int) (hi, lo uint64) {
	switch {
	case bits <= 0:
		return 0, 0
	case bits < 64:
		return ^uint64(0) << (64 - bits), 0
	case bits == 64:
		return ^uint64(0), 0
	case bits < 128:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
	return ^uint64(0), ^uint64(0)
}

func compare6(a, b IP6) int { return bytes.Compare(a[:], b[:]) }
