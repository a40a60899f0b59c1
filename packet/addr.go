package packet

import (
	"cmp"
	"fmt"
	"net/netip"
)

// IP4 is an IPv4 address in network byte order. It is a value type so that
// flow keys built from it are comparable and pointer-free.
type IP4 [4]byte

// IP4From converts a netip.Addr; ok is false if a is not IPv4.
func IP4From(a netip.Addr) (IP4, bool) {
	if !a.Is4() && !a.Is4In6() {
		return IP4{}, false
	}
	return IP4(a.Unmap().As4()), true
}

// MustIP4 parses s and panics on error; for tests and constants only.
func MustIP4(s string) IP4 {
	a, err := netip.ParseAddr(s)
	if err != nil {
		panic(err)
	}
	ip, ok := IP4From(a)
	if !ok {
		panic("not IPv4: " + s)
	}
	return ip
}

// Addr returns the address as a netip.Addr.
func (ip IP4) Addr() netip.Addr { return netip.AddrFrom4(ip) }

// Uint32 returns the address as a big-endian integer.
func (ip IP4) Uint32() uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

// IP4FromUint32 is the inverse of Uint32.
func IP4FromUint32(v uint32) IP4 { return IP4{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// Compare orders addresses numerically, for sorting.
func (ip IP4) Compare(o IP4) int { return cmp.Compare(ip.Uint32(), o.Uint32()) }

// IsZero reports whether ip is 0.0.0.0.
func (ip IP4) IsZero() bool { return ip == IP4{} }

func (ip IP4) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", ip[0], ip[1], ip[2], ip[3])
}

// MAC is an Ethernet address.
type MAC [6]byte

// ParseMAC parses the colon form "aa:bb:cc:dd:ee:ff" (case-insensitive).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("mac %q: want 17 characters as aa:bb:cc:dd:ee:ff", s)
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[i*3-1] != ':' {
			return m, fmt.Errorf("mac %q: want ':' between octets", s)
		}
		hi, ok1 := unhex(s[i*3])
		lo, ok2 := unhex(s[i*3+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("mac %q: bad hex digit", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

// MustMAC is ParseMAC that panics; for tests and constants only.
func MustMAC(s string) MAC {
	m, err := ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// IsZero reports whether m is all zeroes (unknown).
func (m MAC) IsZero() bool { return m == MAC{} }

func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
