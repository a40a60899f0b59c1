package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// The leaf types below are strings as written in the file. Keeping the text
// (rather than parsing during YAML decoding) lets Validate report every bad
// value with its field path in one pass, lets a config built in Go be written
// as plain literals, and lets the file be re-marshalled unchanged. Each has a
// Parse method that reports the problem and a Value method that returns the
// parsed value (the zero value when invalid: call it after Validate).

// IPv4 is a single IPv4 address such as "172.31.5.23".
type IPv4 string

// Parse returns the address, or an error saying why the text is not one.
func (s IPv4) Parse() (packet.IP4, error) {
	a, err := netip.ParseAddr(string(s))
	if err != nil || !a.Is4() {
		return packet.IP4{}, fmt.Errorf("%q is not an IPv4 address", string(s))
	}
	return packet.IP4(a.As4()), nil
}

// Value returns the parsed address, or 0.0.0.0 if the text is invalid.
func (s IPv4) Value() packet.IP4 { ip, _ := s.Parse(); return ip }

// IPv6 is a single IPv6 address such as "2001:db8::1", without a zone.
type IPv6 string

// Parse returns the address, or an error saying why the text is not one.
func (s IPv6) Parse() (netip.Addr, error) {
	a, err := netip.ParseAddr(string(s))
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv6 address", string(s))
	}
	return a, nil
}

// Value returns the parsed address, or the zero netip.Addr if the text is
// invalid.
func (s IPv6) Value() netip.Addr { a, _ := s.Parse(); return a }

// IP is a single address of either family, "172.31.5.1" or "2001:db8::1",
// where OVN's column takes either (a NAT rule's external_ip, a route's
// nexthop, a chassis' encap IP). IPv4-mapped IPv6 addresses and zones
// are refused: the family must be plain from the text.
type IP string

// Parse returns the address. The error names the family the text looks
// like (a colon means IPv6), so that "1.2.3" reads "not an IPv4 address".
func (s IP) Parse() (netip.Addr, error) {
	if strings.Contains(string(s), ":") {
		return IPv6(s).Parse()
	}
	a, err := IPv4(s).Parse()
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Addr(), nil
}

// Value returns the parsed address, or the zero netip.Addr if the text is
// invalid.
func (s IP) Value() netip.Addr { a, _ := s.Parse(); return a }

// Addresses is a VM port's addresses, as the IP part of OVN's
// Logical_Switch_Port.addresses ("MAC IP [IP6]"): one IPv4 address, one
// IPv6 address, or one of each separated by a space
// ("10.199.100.10 fd00:100::10").
type Addresses string

// Parse returns the IPv4 and IPv6 addresses (either may be the zero
// netip.Addr, not both).
func (s Addresses) Parse() (v4, v6 netip.Addr, err error) {
	fields := strings.Fields(string(s))
	if len(fields) == 0 || len(fields) > 2 {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("%q is not an IPv4 address, an IPv6 address or one of each", string(s))
	}
	for _, f := range fields {
		a, err := IP(f).Parse()
		if err != nil {
			return netip.Addr{}, netip.Addr{}, err
		}
		dst := &v4
		if a.Is6() {
			dst = &v6
		}
		if dst.IsValid() {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("%q: one address per family (%s and %s)", string(s), *dst, a)
		}
		*dst = a
	}
	return v4, v6, nil
}

// Value returns the IPv4 address, or 0.0.0.0 if the text is invalid or
// has none.
func (s Addresses) Value() packet.IP4 {
	v4, _, _ := s.Parse()
	ip, _ := packet.IP4From(v4)
	return ip
}

// Value6 returns the IPv6 address, or the zero netip.Addr.
func (s Addresses) Value6() netip.Addr { _, v6, _ := s.Parse(); return v6 }

// CIDR is a router port's networks, as OVN's Logical_Router_Port.networks:
// an interface address with its subnet length ("172.16.255.2/24"), the
// port's own address and, masked, the subnet it is connected to. A dual-
// stack port lists one IPv4 and one IPv6 network separated by a space
// ("172.16.255.2/24 fd00:10::2/64"), in either order; a port may also be
// IPv6 only. At most one network per family: OVN allows several, but one
// address per family is all a gateway router port's routing uses here.
type CIDR string

// Networks returns the port's IPv4 and IPv6 networks (either may be the
// zero prefix, not both) with the host bits kept: Addr is the port's own
// address, Masked the connected subnet.
func (s CIDR) Networks() (v4, v6 netip.Prefix, err error) {
	fields := strings.Fields(string(s))
	if len(fields) == 0 {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address with a prefix length (a.b.c.d/n)", string(s))
	}
	for _, f := range fields {
		if !strings.Contains(f, ":") {
			p, err := parseNet4(f)
			if err != nil {
				return netip.Prefix{}, netip.Prefix{}, err
			}
			if v4.IsValid() {
				return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("%q: one IPv4 network per port (%s and %s)", string(s), v4, p)
			}
			v4 = p
			continue
		}
		p, err := parseNet6(f)
		if err != nil {
			return netip.Prefix{}, netip.Prefix{}, err
		}
		if v6.IsValid() {
			return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("%q: one IPv6 network per port (%s and %s)", string(s), v6, p)
		}
		v6 = p
	}
	return v4, v6, nil
}

func parseNet4(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address with a prefix length (a.b.c.d/n)", s)
	}
	if p.Bits() < 1 || p.Bits() > 31 {
		return netip.Prefix{}, fmt.Errorf("%q: prefix length must be 1..31 so that the port has neighbours", s)
	}
	return p, nil
}

func parseNet6(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 address with a prefix length (x:y::z/n)", s)
	}
	if p.Bits() < 1 || p.Bits() > 127 {
		return netip.Prefix{}, fmt.Errorf("%q: prefix length must be 1..127 so that the port has neighbours", s)
	}
	if a := p.Addr(); !a.IsGlobalUnicast() || a.IsLinkLocalUnicast() {
		return netip.Prefix{}, fmt.Errorf("%q: a port network must be a global or unique-local unicast address (a port's link-local address is derived from its MAC, as OVN does)", s)
	}
	return p, nil
}

// Parse returns the IPv4 network with the host bits kept (Addr is the
// port's own address; Masked is the connected subnet). It is an error for
// the port to have none: use Networks for a port that may be IPv6 only.
func (s CIDR) Parse() (netip.Prefix, error) {
	v4, _, err := s.Networks()
	if err == nil && !v4.IsValid() {
		err = fmt.Errorf("%q has no IPv4 network", string(s))
	}
	if err != nil {
		return netip.Prefix{}, err
	}
	return v4, nil
}

// Value returns the IPv4 network, or the zero prefix if the text is
// invalid or has none.
func (s CIDR) Value() netip.Prefix { p, _ := s.Parse(); return p }

// Value6 returns the IPv6 network, or the zero prefix if the text is
// invalid or has none.
func (s CIDR) Value6() netip.Prefix { _, p, _ := s.Networks(); return p }

// Prefix is a network of either family, "10.199.100.0/24" or
// "fd00:100::/64"; a bare address means a /32 or a /128. Host bits must be
// zero, because "10.199.100.5/24" is almost always a typo for either the
// host or the network and the two mean very different things.
type Prefix string

// Parse returns the network.
func (s Prefix) Parse() (netip.Prefix, error) {
	var p netip.Prefix
	var err error
	if strings.Contains(string(s), "/") {
		p, err = netip.ParsePrefix(string(s))
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(string(s))
		if err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err == nil && (p.Addr().Is4In6() || p.Addr().Zone() != "") {
		err = errors.New("mapped or scoped")
	}
	if err != nil {
		if strings.Contains(string(s), ":") {
			return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 prefix (x:y::/n or x:y::z)", string(s))
		}
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 prefix (a.b.c.d/n or a.b.c.d)", string(s))
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (network is %s)", string(s), p.Masked())
	}
	return p, nil
}

// Value returns the parsed prefix, or the zero prefix if the text is invalid.
func (s Prefix) Value() netip.Prefix { p, _ := s.Parse(); return p }

// MAC is an Ethernet address "aa:bb:cc:dd:ee:ff". Quoting is optional: YAML
// reads the unquoted form as a string here.
type MAC string

// Parse returns the address; it must be a unicast, non-zero address since
// it is used as a source MAC and as a lookup key.
func (s MAC) Parse() (packet.MAC, error) {
	m, err := packet.ParseMAC(string(s))
	if err != nil {
		return packet.MAC{}, fmt.Errorf("%q is not a MAC address (aa:bb:cc:dd:ee:ff)", string(s))
	}
	if m.IsZero() || m[0]&1 != 0 {
		return packet.MAC{}, fmt.Errorf("%q is not a unicast MAC address", string(s))
	}
	return m, nil
}

// Value returns the parsed MAC, or the zero MAC if the text is invalid.
func (s MAC) Value() packet.MAC { m, _ := s.Parse(); return m }

// NATType is the type of a NAT rule, "snat", "dnat" or "dnat_and_snat"
// (nat.Kind's names, as in OVN's NB NAT table).
type NATType string

// Parse returns the kind.
func (s NATType) Parse() (nat.Kind, error) { return nat.ParseKind(string(s)) }

// Value returns the parsed kind, or the zero (no) kind if the text is
// invalid.
func (s NATType) Value() nat.Kind { k, _ := s.Parse(); return k }

// NATMapping is an SNAT rule's mapping behaviour, "endpoint-independent"
// or "endpoint-dependent"; empty means endpoint-dependent.
type NATMapping string

// Parse returns the mapping.
func (s NATMapping) Parse() (nat.Mapping, error) { return nat.ParseMapping(string(s)) }

// Value returns the parsed mapping, endpoint-dependent if the text is
// invalid.
func (s NATMapping) Value() nat.Mapping { m, _ := s.Parse(); return m }

// PortRange is an inclusive L4 port range "1024-65535", or a single "5000".
type PortRange string

// Parse returns the bounds; 1 <= lo <= hi <= 65535.
func (s PortRange) Parse() (lo, hi uint16, err error) {
	first, last, found := strings.Cut(string(s), "-")
	if !found {
		last = first
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(first), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(last), 10, 16)
	if err1 != nil || err2 != nil || a == 0 || a > b {
		return 0, 0, fmt.Errorf("%q is not a port range min-max with 1 <= min <= max <= 65535", string(s))
	}
	return uint16(a), uint16(b), nil
}

// Duration is a Go duration, "24h", "90s", "1m30s". Empty or zero means the
// consumer's default.
type Duration string

// Parse returns the duration; it must not be negative.
func (s Duration) Parse() (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(string(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 30s, 5m, 24h)", string(s))
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", string(s))
	}
	return d, nil
}

// Value returns the parsed duration, 0 for empty or invalid text.
func (s Duration) Value() time.Duration { d, _ := s.Parse(); return d }
