package config

import (
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

// CIDR is an interface address with its subnet length, "172.16.255.2/24":
// the address of a router port and, masked, the subnet it is connected to.
type CIDR string

// Parse returns the prefix with the host bits kept (Addr is the port's own
// address; Masked is the connected subnet).
func (s CIDR) Parse() (netip.Prefix, error) {
	p, err := netip.ParsePrefix(string(s))
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address with a prefix length (a.b.c.d/n)", string(s))
	}
	if p.Bits() < 1 || p.Bits() > 31 {
		return netip.Prefix{}, fmt.Errorf("%q: prefix length must be 1..31 so that the port has neighbours", string(s))
	}
	return p, nil
}

// Value returns the parsed prefix, or the zero prefix if the text is invalid.
func (s CIDR) Value() netip.Prefix { p, _ := s.Parse(); return p }

// Prefix is a network, "10.199.100.0/24"; a bare address means a /32. Host
// bits must be zero, because "10.199.100.5/24" is almost always a typo for
// either the host or the network and the two mean very different things.
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
	if err != nil || !p.Addr().Is4() {
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
