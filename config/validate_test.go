package config

import (
	"errors"
	"strings"
	"testing"
)

// minimal is the seed topology, trimmed, written so that each test case
// below can break one line of it by text replacement.
const minimal = `interfaces:
  underlay: { name: eth0, vtep_ip: 172.31.5.23 }
  external: { name: eth1 }
chassis:
  - { name: node01, ip: 172.31.1.21 }
switches:
  - name: join
    key: 1
    ports:
      - { name: dr-join, key: 1, router_port: dr-join }
      - { name: gr1-join, key: 2, router_port: gr1-join }
  - name: sw1
    key: 9
    ports:
      - { name: dr-sw1, key: 1, router_port: dr-sw1 }
      - { name: vm1, key: 2, mac: 00:00:19:91:00:10, ip: 10.199.100.10, chassis: node01 }
routers:
  - name: dr
    distributed: true
    ports:
      - { name: dr-join, mac: ae:03:03:17:eb:df, ip: 172.16.255.2/24 }
      - { name: dr-sw1, mac: ae:95:95:65:27:a6, ip: 10.199.100.1/24 }
  - name: gr1
    zones: { dnat: 6, snat: 16 }
    ports:
      - { name: gr1-join, mac: ae:cd:cd:04:d7:d4, ip: 172.16.255.3/24 }
      - { name: gr1-ext, mac: ae:a9:a9:0c:6f:c8, ip: 172.31.5.230/24, external: true }
    routes:
      - { prefix: 10.199.100.0/24, nexthop: 172.16.255.2 }
      - { prefix: 0.0.0.0/0, nexthop: 172.31.5.1 }
    nat:
      - { type: snat, logical_ip: 10.199.100.0/24, external_ip: 123.123.123.123 }
`

// secondTenant appends a second DR/GR pair to minimal, for cross-router checks.
const secondTenant = `  - name: dr2
    distributed: true
    ports:
      - { name: dr2-join, mac: ae:03:03:17:eb:e0, ip: 172.16.255.2/24 }
  - name: gr2
    zones: { dnat: 7, snat: 17 }
    ports:
      - { name: gr2-join, mac: ae:cd:cd:04:d7:d5, ip: 172.16.255.3/24 }
      - { name: gr2-ext, mac: ae:a9:a9:0c:6f:c9, ip: 172.31.5.231/24, external: true }
    nat:
      - { type: snat, logical_ip: 10.199.100.0/24, external_ip: 203.0.113.2 }
`

const secondJoin = `  - name: join2
    key: 2
    ports:
      - { name: dr2-join, key: 1, router_port: dr2-join }
      - { name: gr2-join, key: 2, router_port: gr2-join }
routers:
`

// twoTenants is minimal plus a second tenant with the same addresses.
var twoTenants = strings.Replace(minimal, "routers:\n", secondJoin, 1) + secondTenant

func TestTwoTenantsMinimalValid(t *testing.T) {
	if _, err := Parse([]byte(twoTenants)); err != nil {
		t.Fatal(err)
	}
}

func TestBroken(t *testing.T) {
	cases := []struct {
		name     string
		base     string
		old, new string // replace old by new in base ("" old: append new)
		want     []string
	}{
		{"unknown top-level key", minimal, "", "bogus: 1\n",
			[]string{"bogus: unknown field", "(line 33)"}},
		{"afxdp ring not a power of two", minimal, "", "afxdp: { rx_ring: 5000 }\n",
			[]string{"afxdp: rx ring size 5000 is not a power of two (line 33)"}},
		{"afxdp fill ring as large as the umem", minimal, "", "afxdp: { frames: 4096, fill_ring: 4096 }\n",
			[]string{"afxdp: fill ring 4096 and tx ring 1024 must each be smaller than the UMEM's 4096 frames"}},
		{"afxdp negative", minimal, "", "afxdp: { frames: -1 }\n",
			[]string{"afxdp.frames: -1 is negative (line 33)"}},
		{"unknown nested key", minimal, "ip: 172.16.255.3/24 }", "ip: 172.16.255.3/24, macc: x }",
			[]string{"routers[1].ports[0].macc: unknown field (known: external, ip, mac, name, redirect_key) (line 26)"}},
		{"duplicate key", minimal, "    key: 9\n", "    key: 9\n    key: 10\n",
			[]string{"switches[1].key: written twice (first at line 13) (line 14)"}},
		{"bad external ip", minimal, "external_ip: 123.123.123.123", "external_ip: 1.2.3",
			[]string{`routers[1].nat[0].external_ip: "1.2.3" is not an IPv4 address (line 32)`}},
		{"bad vtep", minimal, "vtep_ip: 172.31.5.23", "vtep_ip: fe80::1",
			[]string{`interfaces.underlay.vtep_ip: "fe80::1" is not an IPv4 address (line 2)`}},
		{"missing vtep", minimal, ", vtep_ip: 172.31.5.23", "",
			[]string{"interfaces.underlay.vtep_ip: required (line 2)"}},
		{"bad mac", minimal, "mac: ae:03:03:17:eb:df", "mac: ae:03:03:17:eb",
			[]string{`routers[0].ports[0].mac: "ae:03:03:17:eb" is not a MAC address`}},
		{"multicast mac", minimal, "mac: ae:03:03:17:eb:df", "mac: 01:00:5e:00:00:01",
			[]string{`routers[0].ports[0].mac: "01:00:5e:00:00:01" is not a unicast MAC`}},
		{"vm bad mac", minimal, "mac: 00:00:19:91:00:10", "mac: zz:00:19:91:00:10",
			[]string{`switches[1].ports[1].mac: "zz:00:19:91:00:10" is not a MAC address (aa:bb:cc:dd:ee:ff) (line 16)`}},
		{"port ip without length", minimal, "ip: 172.16.255.3/24", "ip: 172.16.255.3",
			[]string{`routers[1].ports[0].ip: "172.16.255.3" is not an IPv4 address with a prefix length`}},
		{"route prefix host bits", minimal, "prefix: 10.199.100.0/24", "prefix: 10.199.100.5/24",
			[]string{`routers[1].routes[0].prefix: "10.199.100.5/24" has host bits set (network is 10.199.100.0/24)`}},
		{"unreachable nexthop", minimal, "nexthop: 172.31.5.1", "nexthop: 172.31.9.1",
			[]string{`routers[1].routes[1].nexthop: 172.31.9.1 is not in the subnet of any port of router "gr1" (line 30)`}},
		{"nexthop is own port", minimal, "nexthop: 172.31.5.1", "nexthop: 172.31.5.230",
			[]string{`routers[1].routes[1].nexthop: 172.31.5.230 is router port "gr1-ext" itself`}},
		{"duplicate route", minimal, "prefix: 0.0.0.0/0", "prefix: 10.199.100.0/24",
			[]string{"routers[1].routes[1].prefix: 10.199.100.0/24 is also routes[0]"}},
		{"dangling router_port", minimal, "router_port: gr1-join", "router_port: gr9-join",
			[]string{`switches[0].ports[1].router_port: no router port named "gr9-join" (line 11)`,
				`routers[1].ports[0].name: router port "gr1-join" is on no switch`}},
		{"external port on a switch", minimal, "router_port: gr1-join", "router_port: gr1-ext",
			[]string{`switches[0].ports[1].router_port: "gr1-ext" is an external port`}},
		{"port attached twice", minimal, "{ name: dr-sw1, key: 1, router_port: dr-sw1 }", "{ name: dr-sw1, key: 1, router_port: dr-join }",
			[]string{`switches[1].ports[0].router_port: "dr-join" is already attached at switches[0].ports[0]`}},
		{"dangling chassis", minimal, "chassis: node01 }", "chassis: node02 }",
			[]string{`switches[1].ports[1].chassis: no chassis named "node02" (line 16)`}},
		{"vm outside subnets", minimal, "ip: 10.199.100.10,", "ip: 10.199.200.10,",
			[]string{"switches[1].ports[1].ip: 10.199.200.10 is not in the subnet of any router port on this switch"}},
		{"vm ip clash", minimal, "ip: 10.199.100.10,", "ip: 10.199.100.1,",
			[]string{"switches[1].ports[1]: IP 10.199.100.1 is also used by switches[1].ports[0].router_port on this switch"}},
		{"vm with router_port", minimal, "{ name: vm1, key: 2,", "{ name: vm1, key: 2, router_port: dr-sw1,",
			[]string{"switches[1].ports[1].mac: not allowed on a router attachment"}},
		{"duplicate port key", minimal, "{ name: gr1-join, key: 2,", "{ name: gr1-join, key: 1,",
			[]string{"switches[0].ports[1].key: key 1 is also switches[0].ports[0] (line 11)"}},
		{"multicast port key", minimal, "{ name: gr1-join, key: 2,", "{ name: gr1-join, key: 32768,",
			[]string{"switches[0].ports[1].key: 32768 is not a port key 1..32767"}},
		{"port key overflows", minimal, "{ name: gr1-join, key: 2,", "{ name: gr1-join, key: 70000,",
			[]string{"switches[0].ports[1].key: 70000 is out of range 0..65535 (line 11)"}},
		{"port key not a number", minimal, "{ name: gr1-join, key: 2,", "{ name: gr1-join, key: two,",
			[]string{`switches[0].ports[1].key: "two" is not an integer (line 11)`}},
		{"duplicate vni", minimal, "    key: 9\n", "    key: 1\n",
			[]string{"switches[1].key: VNI 1 is also switches[0] (line 13)"}},
		{"vni too big", minimal, "    key: 9\n", "    key: 16777216\n",
			[]string{"switches[1].key: 16777216 is not a tunnel key (VNI) 1..16777215"}},
		{"missing zones", minimal, "    zones: { dnat: 6, snat: 16 }\n", "",
			[]string{"routers[1].zones.dnat: required", "routers[1].zones.snat: required"}},
		{"same zone twice", minimal, "snat: 16", "snat: 6",
			[]string{"routers[1].zones.snat: zone 6 is also routers[1].zones.dnat"}},
		{"zones reused by another router", twoTenants, "dnat: 7, snat: 17", "dnat: 7, snat: 16",
			[]string{"routers[3].zones.snat: zone 16 is also routers[1].zones.snat"}},
		{"zone bool", minimal, "snat: 16", "snat: true",
			[]string{`routers[1].zones.snat: "true" is not an integer`}},
		{"gateway without external port", minimal, ", external: true }", " }",
			[]string{"routers[1].ports: a gateway router needs exactly one external port, has 0",
				`routers[1].ports[1].name: router port "gr1-ext" is on no switch`}},
		{"distributed with external port", minimal, "ip: 10.199.100.1/24 }", "ip: 10.199.100.1/24, external: true }",
			[]string{"routers[0].ports[1].external: a distributed router has no external port"}},
		{"gateway without join port", minimal, "      - { name: gr1-join, mac: ae:cd:cd:04:d7:d4, ip: 172.16.255.3/24 }\n", "",
			[]string{"routers[1].ports: a gateway router needs at least one join port"}},
		{"overlapping port subnets", minimal, "ip: 172.31.5.230/24", "ip: 172.16.255.4/24",
			[]string{"routers[1].ports[1].ip: subnet 172.16.255.0/24 overlaps that of routers[1].ports[0]"}},
		{"duplicate router port name", minimal, "{ name: gr1-join, mac", "{ name: dr-join, mac",
			[]string{`routers[1].ports[0].name: router port "dr-join" is also routers[0].ports[0]`}},
		{"external flag not bool", minimal, "external: true", "external: yes",
			[]string{`routers[1].ports[1].external: "yes" is not true or false`}},
		{"nat type", minimal, "type: snat", "type: masquerade",
			[]string{`routers[1].nat[0].type: "masquerade" is not snat, dnat or dnat_and_snat`}},
		{"dnat of a network", minimal, "type: snat", "type: dnat_and_snat",
			[]string{"routers[1].nat[0].logical_ip: 10.199.100.0/24: dnat_and_snat translates one address"}},
		{"bad port range", minimal, "external_ip: 123.123.123.123", "external_ip: 123.123.123.123, port_range: 2000-1000",
			[]string{`routers[1].nat[0].port_range: "2000-1000" is not a port range`}},
		{"bad mapping", minimal, "external_ip: 123.123.123.123", "external_ip: 123.123.123.123, mapping: eim",
			[]string{`routers[1].nat[0].mapping: "eim" is not endpoint-dependent or endpoint-independent`}},
		{"mapping on dnat", minimal, "{ type: snat, logical_ip: 10.199.100.0/24", "{ type: dnat, mapping: endpoint-independent, logical_ip: 10.199.100.10",
			[]string{"routers[1].nat[0].mapping: only source NAT maps inside endpoints"}},
		{"port range on dnat", minimal, "{ type: snat, logical_ip: 10.199.100.0/24", "{ type: dnat, port_range: 80, logical_ip: 10.199.100.10",
			[]string{"routers[1].nat[0].port_range: only source NAT allocates ports"}},
		{"nat on distributed router", minimal, "    distributed: true\n", "    distributed: true\n    nat: [{ type: snat, logical_ip: 10.0.0.0/8, external_ip: 203.0.113.9 }]\n",
			[]string{"routers[0].nat[0]: NAT belongs on a gateway router"}},
		{"external ip shared by routers", twoTenants, "external_ip: 203.0.113.2", "external_ip: 123.123.123.123",
			[]string{`routers[3].nat[0].external_ip: 123.123.123.123 is also an external address of router "gr1" (routers[1].nat[0].external_ip)`}},
		{"nat ip is other router's port", twoTenants, "external_ip: 203.0.113.2", "external_ip: 172.31.5.230",
			[]string{`routers[3].nat[0].external_ip: 172.31.5.230 is also an external address of router "gr1" (routers[1].ports[1].ip)`}},
		{"nat ip is the vtep", minimal, "external_ip: 123.123.123.123", "external_ip: 172.31.5.23",
			[]string{"routers[1].nat[0].external_ip: 172.31.5.23 is the gateway's VTEP"}},
		{"duplicate chassis", minimal, "  - { name: node01, ip: 172.31.1.21 }\n", "  - { name: node01, ip: 172.31.1.21 }\n  - { name: node01, ip: 172.31.1.21 }\n",
			[]string{`chassis[1].name: chassis "node01" is listed twice (line 6)`, "chassis[1].ip: 172.31.1.21 is also chassis[0].ip"}},
		{"bad duration", minimal, "", "conntrack: { timeouts: { udp_first: 60 } }\n",
			[]string{`conntrack.timeouts.udp_first: "60" is not a duration`}},
		{"negative duration", minimal, "", "conntrack: { timeouts: { tcp_close: -1s } }\n",
			[]string{`conntrack.timeouts.tcp_close: "-1s" is negative`}},
		{"unknown timeout", minimal, "", "conntrack: { timeouts: { udp_forever: 1s } }\n",
			[]string{"conntrack.timeouts.udp_forever: unknown field"}},
		{"offload unknown", minimal, "", "offload: { enabled: true, turbo: true }\n",
			[]string{"offload.turbo: unknown field (known: enabled, flows, pin_path, udp_oneway, udp_oneway_ms, udp_oneway_packets)"}},
		{"offload negative", minimal, "", "offload: { udp_oneway_packets: -1 }\n",
			[]string{"offload.udp_oneway_packets: -1 is negative"}},
		{"xdp attach", minimal, "", "xdp: { attach: operator }\n",
			[]string{`xdp.attach: "operator": want self or adopt`}},
		{"xdp pin_path with self", minimal, "", "xdp: { pin_path: /sys/fs/bpf/x }\n",
			[]string{"xdp.pin_path: only used with attach: adopt"}},
		{"xdp relative pin_path", minimal, "", "xdp: { attach: adopt, pin_path: globals }\n",
			[]string{`xdp.pin_path: "globals" is not an absolute path`}},
		{"relative socket", minimal, "", "control: { socket: xgw.sock }\n",
			[]string{`control.socket: "xgw.sock" is not an absolute path`}},
		{"metrics host name", minimal, "", "metrics: { listen: localhost:9477 }\n",
			[]string{`metrics.listen: "localhost:9477": "localhost" is not an IP address`}},
		{"metrics no port", minimal, "", "metrics: { listen: 127.0.0.1 }\n",
			[]string{`metrics.listen: "127.0.0.1": want IP:PORT`}},
		{"metrics bad port", minimal, "", "metrics: { listen: \"127.0.0.1:0\" }\n",
			[]string{`metrics.listen: "127.0.0.1:0": port "0" is not 1..65535`}},
		{"list where mapping", minimal, "", "geneve: [6081]\n",
			[]string{"geneve: want a mapping of fields, got a list"}},
		{"mapping where list", minimal, "", "chassis2: {}\n",
			[]string{"chassis2: unknown field"}},
		{"scalar where list", minimal, "    routes:\n", "    routes: none\n    routes_:\n",
			[]string{`routers[1].routes: want a list, got "none"`}},
		{"alias", minimal, "  external: { name: eth1 }", "  external: &x { name: eth1 }\ngeneve: *x",
			[]string{"geneve: YAML aliases (*x) are not supported"}},
		{"syntax error", minimal, "", "routers: [\n", []string{"yaml:"}},
		{"two documents", minimal, "", "---\ngeneve: {}\n", []string{"exactly one YAML document"}},
		{"empty", "", "", "", []string{"empty file"}},
		{"not a mapping", "", "", "- 1\n", []string{"want a mapping of fields, got a list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.base + tc.new
			if tc.old != "" {
				if !strings.Contains(tc.base, tc.old) {
					t.Fatalf("test bug: %q not in base", tc.old)
				}
				doc = strings.Replace(tc.base, tc.old, tc.new, 1)
			}
			c, err := Parse([]byte(doc))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config returned with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestAllProblemsReported checks that independent problems are all reported.
func TestAllProblemsReported(t *testing.T) {
	doc := strings.NewReplacer(
		"vtep_ip: 172.31.5.23", "vtep_ip: 1.2.3",
		"external_ip: 123.123.123.123", "external_ip: x",
		"snat: 16", "snat: 6",
	).Replace(minimal)
	_, err := Parse([]byte(doc))
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want *FieldError in %v", err)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 3 {
		t.Fatalf("want 3 problems, got:\n%v", err)
	}
}

// TestMetricsListen checks the default (loopback) and the two ways to
// override it.
func TestMetricsListen(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{"", DefaultMetricsListen},
		{"metrics: { listen: off }\n", MetricsOff},
		{"metrics: { listen: \"[::]:9100\" }\n", "[::]:9100"},
	} {
		c, err := Parse([]byte(minimal + tc.extra))
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if c.Metrics.Listen != tc.want {
			t.Errorf("%q: listen = %q, want %q", tc.extra, c.Metrics.Listen, tc.want)
		}
	}
}

// The afxdp section reaches the sockets' configuration as written.
func TestAFXDPSizes(t *testing.T) {
	c, err := Parse([]byte(minimal + "afxdp: { frames: 32768, fill_ring: 16384, rx_ring: 16384 }\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.AFXDP.Port()
	if p.NumFrames != 32768 || p.FillRingSize != 16384 || p.RxRingSize != 16384 || p.TxRingSize != 0 {
		t.Fatalf("afxdp %+v became %+v", c.AFXDP, p)
	}
	if m, err := p.MemoryBytes(); err != nil || m < 32768*2048 {
		t.Fatalf("memory %d, %v", m, err)
	}
}
