package config

import (
	"strings"
	"testing"
)

// dgpMinimal is a router served through a distributed gateway port (OVN's
// chassisredirect shape): its own datapath key, the external port's
// chassisredirect key, its other port on a tenant switch.
const dgpMinimal = `interfaces:
  underlay: { name: eth0, vtep_ip: 172.31.5.23 }
  external: { name: eth1 }
chassis:
  - { name: node01, ip: 172.31.1.21 }
switches:
  - name: sw1
    key: 2
    ports:
      - { name: sw1-dr, key: 4, router_port: dr-sw1 }
      - { name: vm1, key: 2, mac: 00:00:19:91:00:10, ip: 10.199.100.10, chassis: node01 }
routers:
  - name: dr
    key: 3
    zones: { dnat: 6, snat: 16 }
    ports:
      - { name: dr-sw1, mac: ae:95:95:65:27:a6, ip: 10.199.100.1/24 }
      - { name: dr-ext, mac: ae:a9:a9:0c:6f:c8, ip: 172.31.5.230/24, external: true, redirect_key: 3 }
    routes:
      - { prefix: 0.0.0.0/0, nexthop: 172.31.5.1 }
    nat:
      - { type: snat, logical_ip: 10.199.100.0/24, external_ip: 203.0.113.10 }
`

func TestDistributedGatewayPortConfig(t *testing.T) {
	if _, err := Parse([]byte(dgpMinimal)); err != nil {
		t.Fatalf("valid: %v", err)
	}
	cases := []struct{ name, old, new, want string }{
		{"router key is a switch's", "    key: 2\n", "    key: 3\n", "switches[0].key: VNI 3 is also routers[0].key"},
		{"redirect key missing", ", redirect_key: 3 }", " }", "routers[0].ports[1].redirect_key: required"},
		{"redirect key on a tenant port", "10.199.100.1/24 }", "10.199.100.1/24, redirect_key: 5 }", "routers[0].ports[0].redirect_key: only the external port"},
		{"redirect key without router key", "    key: 3\n    zones", "    zones", "routers[0].ports[1].redirect_key: only the external port of a router with a key"},
		{"redirect key too large", "redirect_key: 3", "redirect_key: 40000", "routers[0].ports[1].redirect_key: 40000 is not a port key"},
		{"key on a distributed router", "    key: 3\n    zones: { dnat: 6, snat: 16 }\n", "    key: 3\n    distributed: true\n", "routers[0].key: a distributed router"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := strings.Replace(dgpMinimal, c.old, c.new, 1)
			if in == dgpMinimal {
				t.Fatalf("%q not in the base", c.old)
			}
			_, err := Parse([]byte(in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
