package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

const (
	minimalSNAT = "{ type: snat, logical_ip: 10.199.100.0/24, external_ip: 123.123.123.123 }"
	hostSNAT    = "{ type: snat, logical_ip: 10.199.100.0/24, external_ip: 172.31.5.230 }"
)

// TestHostSNATDefaultRange: SNAT to the router's own external address
// gets the host-shared default range, above Linux's ephemeral ports; a
// range written out is kept.
func TestHostSNATDefaultRange(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, minimalSNAT, hostSNAT, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routers[1].NAT[0].PortRange; got != "61000-65535" {
		t.Fatalf("host-shared snat range %q, want 61000-65535", got)
	}
	c, err = Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routers[1].NAT[0].PortRange; got != "1024-65535" {
		t.Fatalf("snat range %q, want 1024-65535", got)
	}
	c, err = Parse([]byte(strings.Replace(minimal, minimalSNAT,
		"{ type: snat, logical_ip: 10.199.100.0/24, external_ip: 172.31.5.230, port_range: 20000-29999 }", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routers[1].NAT[0].PortRange; got != "20000-29999" {
		t.Fatalf("written range became %q", got)
	}
}

// TestHostDNATRefused: DNAT to the router's external address would take
// the host's traffic; only snat may share it.
func TestHostDNATRefused(t *testing.T) {
	for _, typ := range []string{"dnat", "dnat_and_snat"} {
		_, err := Parse([]byte(strings.Replace(minimal, minimalSNAT,
			"{ type: "+typ+", logical_ip: 10.199.100.10, external_ip: 172.31.5.230 }", 1)))
		if err == nil || !strings.Contains(err.Error(), "only snat may share it") || !strings.Contains(err.Error(), "routers[1].nat[0].external_ip") {
			t.Fatalf("%s to the router's address: %v", typ, err)
		}
	}
}

// TestCheckHostPorts: overlaps with the ephemeral range and listeners on
// the address or a wildcard are reported; listeners elsewhere, ports
// outside the range and rules on other addresses are not.
func TestCheckHostPorts(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, minimalSNAT, hostSNAT, 1)))
	if err != nil {
		t.Fatal(err)
	}
	h := HostPorts{EphemeralMin: 32768, EphemeralMax: 60999, Listeners: []Listener{
		{Proto: packet.ProtoTCP, Addr: netip.MustParseAddr("0.0.0.0"), Port: 22},
		{Proto: packet.ProtoTCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: 62000}, // loopback only
		{Proto: packet.ProtoUDP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 63000},  // another address
	}}
	if err := c.CheckHostPorts(h); err != nil {
		t.Fatalf("default host range: %v", err)
	}
	h.Listeners = append(h.Listeners,
		Listener{Proto: packet.ProtoUDP, Addr: netip.MustParseAddr("172.31.5.230"), Port: 64000},
		Listener{Proto: packet.ProtoTCP, Addr: netip.IPv6Unspecified(), Port: 61001})
	err = c.CheckHostPorts(h)
	if err == nil || !strings.Contains(err.Error(), "tcp/61001, udp/64000") {
		t.Fatalf("listeners in range: %v", err)
	}
	h.Listeners = nil
	h.EphemeralMin, h.EphemeralMax = 1024, 65000
	if err := c.CheckHostPorts(h); err == nil || !strings.Contains(err.Error(), "ephemeral ports 1024-65000") {
		t.Fatalf("ephemeral overlap: %v", err)
	}
	// The same host ports do not matter to a rule on a NAT-only address.
	c, err = Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckHostPorts(h); err != nil {
		t.Fatalf("rule on its own address: %v", err)
	}
}
