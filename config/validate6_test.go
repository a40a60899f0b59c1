package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/nat"
)

func dualStack(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "dual-stack.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDualStackExample checks that examples/dual-stack.yaml parses into
// the values it says: networks per family, VM addresses, IPv6 routes and
// a NAT66 rule.
func TestDualStackExample(t *testing.T) {
	c, err := Parse([]byte(dualStack(t)))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Interfaces.Underlay.VTEPIP6.Value(); a != netip.MustParseAddr("2001:db8:31::23") {
		t.Errorf("vtep_ip6 = %s", a)
	}
	if a := c.Chassis[1].IP.Value(); a != netip.MustParseAddr("2001:db8:31::22") {
		t.Errorf("node02 ip = %s", a)
	}
	gr := c.Routers[1]
	v4, v6, err := gr.Ports[1].IP.Networks()
	if err != nil || v4 != netip.MustParsePrefix("172.31.5.230/24") || v6 != netip.MustParsePrefix("2001:db8:5::230/64") {
		t.Errorf("gr1-ext networks = %s %s, %v", v4, v6, err)
	}
	if p := gr.Ports[1].IP.Value(); p != v4 {
		t.Errorf("gr1-ext Value = %s, want the IPv4 network", p)
	}
	if p := c.Routers[0].Ports[2].IP.Value(); p.IsValid() {
		t.Errorf("IPv6-only dr-sw2 has IPv4 network %s", p)
	}
	vm1 := c.Switches[1].Ports[1]
	if a4, a6, err := vm1.IP.Parse(); err != nil || a4 != netip.MustParseAddr("10.199.100.10") || a6 != netip.MustParseAddr("fd00:199:100::10") {
		t.Errorf("vm1 ip = %s %s, %v", a4, a6, err)
	}
	if vm2 := c.Switches[2].Ports[1]; !vm2.IP.Value().IsZero() || vm2.IP.Value6() != netip.MustParseAddr("2001:db8:200::20") {
		t.Errorf("vm2 ip = %s / %s", vm2.IP.Value(), vm2.IP.Value6())
	}
	def := gr.Routes[4]
	if def.Prefix.Value() != netip.MustParsePrefix("::/0") || def.NextHop.Value() != netip.MustParseAddr("2001:db8:5::1") {
		t.Errorf("default route = %+v", def)
	}
	n := gr.NAT[1]
	if n.Type.Value() != nat.KindSNAT || n.LogicalIP.Value() != netip.MustParsePrefix("fd00:199:100::/64") ||
		n.ExternalIP.Value() != netip.MustParseAddr("2001:db8:5::100") {
		t.Errorf("nat66 = %+v", n)
	}
}

// TestBroken6 holds each IPv6 validation to its message: one change to
// the dual-stack example, one named problem.
func TestBroken6(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           string
	}{
		{"nat family mismatch", `external_ip: "2001:db8:5::100"`, `external_ip: 203.0.113.9`,
			`routers[1].nat[1].external_ip: 203.0.113.9 is IPv4 but logical_ip fd00:199:100::/64 is IPv6: NAT translates within one family`},
		{"route family mismatch", `nexthop: "2001:db8:5::1"`, `nexthop: 172.31.5.1`,
			`routers[1].routes[4].nexthop: 172.31.5.1 is IPv4 but prefix ::/0 is IPv6`},
		{"overlapping v6 subnets", "ip: 2001:db8:200::1/64", "ip: fd00:199:100::1:1/112",
			"routers[0].ports[2].ip: subnet fd00:199:100::1:0/112 overlaps that of routers[0].ports[1]"},
		{"link-local nat address", `external_ip: "2001:db8:5::100"`, `external_ip: "fe80::100"`,
			"routers[1].nat[1].external_ip: fe80::100 is link-local, valid on one link only; a NAT address must be"},
		{"link-local logical", `logical_ip: "fd00:199:100::/64"`, `logical_ip: "fe80::/64"`,
			"routers[1].nat[1].logical_ip: fe80::/64 is not a routable inside network"},
		{"multicast nat address", `external_ip: "2001:db8:5::100"`, `external_ip: "ff02::1"`,
			"routers[1].nat[1].external_ip: ff02::1 is not a unicast address"},
		{"mapped nat address", `external_ip: "2001:db8:5::100"`, `external_ip: "::ffff:203.0.113.9"`,
			`routers[1].nat[1].external_ip: "::ffff:203.0.113.9" is not an IPv6 address`},
		{"bad v6 text", `external_ip: "2001:db8:5::100"`, `external_ip: "2001:db8::zz"`,
			`routers[1].nat[1].external_ip: "2001:db8::zz" is not an IPv6 address`},
		{"link-local next hop", `nexthop: "2001:db8:5::1"`, `nexthop: "fe80::1"`,
			"routers[1].routes[4].nexthop: fe80::1 is link-local"},
		{"next hop off-link", `nexthop: "2001:db8:5::1"`, `nexthop: "2001:db8:6::1"`,
			`routers[1].routes[4].nexthop: 2001:db8:6::1 is not in the subnet of any port of router "gr1"`},
		{"dnat66 of a network", "# no rule covers", `- { type: dnat, logical_ip: "2001:db8:200::/64", external_ip: "2001:db8:5::101" }` + "\n      #",
			"routers[1].nat[2].logical_ip: 2001:db8:200::/64: dnat translates one address; want x:y::z (a /128)"},
		{"v6 chassis without vtep_ip6", "    vtep_ip6: 2001:db8:31::23", "",
			`chassis[1].ip: 2001:db8:31::22 is an IPv6 encap IP: Geneve over IPv6 to it needs interfaces.underlay.vtep_ip6`},
		{"v6 chassis is our vtep", "ip: 2001:db8:31::22", "ip: 2001:db8:31::23",
			"chassis[1].ip: 2001:db8:31::23 is the gateway's own VTEP"},
		{"two v6 networks", "ip: 2001:db8:200::1/64", "ip: 2001:db8:200::1/64 2001:db8:201::1/64",
			`routers[0].ports[2].ip: "2001:db8:200::1/64 2001:db8:201::1/64": one IPv6 network per port`},
		{"link-local port network", "ip: 2001:db8:200::1/64", "ip: fe80::1/64",
			`routers[0].ports[2].ip: "fe80::1/64": a port network must be a global or unique-local unicast address`},
		{"v6 vm outside subnets", "ip: 2001:db8:200::20", "ip: 2001:db8:300::20",
			"switches[2].ports[1].ip: 2001:db8:300::20 is not in the subnet of any router port on this switch"},
		{"v6 vm is the router port", "ip: 2001:db8:200::20", "ip: 2001:db8:200::1",
			"switches[2].ports[1]: IP 2001:db8:200::1 is also used by switches[2].ports[0].router_port on this switch"},
		{"two v6 vm addresses", "ip: 2001:db8:200::20", "ip: 2001:db8:200::20 2001:db8:200::21",
			`switches[2].ports[1].ip: "2001:db8:200::20 2001:db8:200::21": one address per family`},
		{"v6 nat without v6 outside", "ip: 172.31.5.230/24 2001:db8:5::230/64", "ip: 172.31.5.230/24",
			`routers[1].nat[1].external_ip: 2001:db8:5::100 is IPv6 but router "gr1"'s external port has no IPv6 network`},
		{"v6 nat on the vtep", `external_ip: "2001:db8:5::100"`, `external_ip: "2001:db8:31::23"`,
			"routers[1].nat[1].external_ip: 2001:db8:31::23 is the gateway's VTEP"},
		{"duplicate v6 route", `prefix: "2001:db8:200::/64"`, `prefix: "fd00:199:100::/64"`,
			"routers[1].routes[3].prefix: fd00:199:100::/64 is also routes[2]"},
		{"v6 prefix host bits", `prefix: "2001:db8:200::/64"`, `prefix: "2001:db8:200::1/64"`,
			`routers[1].routes[3].prefix: "2001:db8:200::1/64" has host bits set (network is 2001:db8:200::/64)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := dualStack(t)
			if !strings.Contains(base, tc.old) {
				t.Fatalf("test bug: %q not in the example", tc.old)
			}
			c, err := Parse([]byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not contain %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestIPv6Underlay: an underlay with only an IPv6 VTEP is valid when every
// chassis is reached over IPv6, and an IPv4 chassis then says what it
// lacks.
func TestIPv6Underlay(t *testing.T) {
	base := strings.Replace(dualStack(t), "    vtep_ip: 172.31.5.23          # outer source of Geneve to IPv4 chassis\n", "", 1)
	v6only := strings.Replace(base, "ip: 172.31.1.21 ", "ip: 2001:db8:31::21", 1)
	if _, err := Parse([]byte(v6only)); err != nil {
		t.Fatalf("IPv6-only underlay: %v", err)
	}
	_, err := Parse([]byte(base))
	if want := "chassis[0].ip: 172.31.1.21 is an IPv4 encap IP: Geneve to it needs interfaces.underlay.vtep_ip"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("IPv4 chassis without vtep_ip: %v, want %q", err, want)
	}
	noVTEP := strings.Replace(base, "    vtep_ip6: 2001:db8:31::23     # outer source of Geneve to IPv6 chassis\n", "", 1)
	if _, err := Parse([]byte(noVTEP)); err == nil || !strings.Contains(err.Error(), "interfaces.underlay.vtep_ip: required") {
		t.Fatalf("no VTEP at all: %v", err)
	}
}

// TestNAT66HostShared: a NAT66 rule to the router's own external IPv6
// address is refused, with the reason: xdp_gw6 passes that address whole
// to the kernel (no port split with the host, as IPv4 has), so its
// replies would never reach xgw.
func TestNAT66HostShared(t *testing.T) {
	doc := strings.Replace(dualStack(t), `external_ip: "2001:db8:5::100", port_range: 1024-65535`, `external_ip: "2001:db8:5::230"`, 1)
	_, err := Parse([]byte(doc))
	if want := "NAT66 to a host-shared IPv6 address is not supported"; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ".nat[1].external_ip") {
		t.Fatalf("NAT66 to the port's address: %v, want refused with %q", err, want)
	}
}

// TestUnquotedIPv6 checks that IPv6 text needs no quotes in YAML, also
// in flow mappings, except "::/0" there (a plain scalar in a flow
// mapping cannot start with "::"; in block style it can).
func TestUnquotedIPv6(t *testing.T) {
	doc := strings.NewReplacer(`"2001:db8:5::1"`, "2001:db8:5::1", `"fd00:16::2"`, "fd00:16::2",
		`      - { prefix: "::/0", nexthop: "2001:db8:5::1" }`, "      - prefix: ::/0\n        nexthop: 2001:db8:5::1").Replace(dualStack(t))
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	rt := c.Routers[1].Routes[4]
	if rt.Prefix.Value() != netip.MustParsePrefix("::/0") || rt.NextHop.Value() != netip.MustParseAddr("2001:db8:5::1") {
		t.Errorf("unquoted default route read as %+v", rt)
	}
	if nh := c.Routers[1].Routes[2].NextHop.Value(); nh != netip.MustParseAddr("fd00:16::2") {
		t.Errorf("unquoted next hop in a flow mapping read as %s", nh)
	}
}

// TestRouted6Overlap: two gateway routers may not both route the same
// IPv6 prefix inside without NAT (inbound IPv6 would be ambiguous), but
// may reuse NATed prefixes and join subnets, as IPv4 tenants do.
func TestRouted6Overlap(t *testing.T) {
	second := `  - name: join2
    key: 2
    ports:
      - { name: dr2-join, key: 1, router_port: dr2-join }
      - { name: gr2-join, key: 2, router_port: gr2-join }
routers:
  - name: dr2
    distributed: true
    ports:
      - { name: dr2-join, mac: ae:03:03:17:eb:e0, ip: 172.16.255.2/24 fd00:16::2/64 }
  - name: gr2
    zones: { dnat: 7, snat: 17 }
    ports:
      - { name: gr2-join, mac: ae:cd:cd:04:d7:d5, ip: 172.16.255.3/24 fd00:16::3/64 }
      - { name: gr2-ext, mac: ae:a9:a9:0c:6f:c9, ip: 172.31.5.231/24 2001:db8:5::231/64, external: true }
    routes:
      - { prefix: "fd00:199:100::/64", nexthop: "fd00:16::2" }
      - { prefix: "ROUTED", nexthop: "fd00:16::2" }
      - { prefix: "::/0", nexthop: "2001:db8:5::1" }
    nat:
      - { type: snat, logical_ip: "fd00:199:100::/64", external_ip: "2001:db8:5::101" }
`
	doc := func(routed string) []byte {
		return []byte(strings.Replace(dualStack(t), "routers:\n", strings.Replace(second, "ROUTED", routed, 1), 1))
	}
	if _, err := Parse(doc("2001:db8:201::/64")); err != nil {
		t.Fatalf("disjoint routed prefixes, same NATed prefix and join subnet: %v", err)
	}
	_, err := Parse(doc("2001:db8:200::/56"))
	// gr2 is inserted first (routers[1]); gr1 is routers[3].
	want := `routers[3].routes[3].prefix: 2001:db8:200::/64 is routed without NAT by router "gr1" and overlaps 2001:db8:200::/56, routed without NAT by router "gr2" (routers[1].routes[1].prefix)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("overlapping routed prefixes: %v\nwant %q", err, want)
	}
}
