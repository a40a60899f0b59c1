package route

import (
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/config"
)

// TestRouteLPM checks longest-prefix order, connected-wins-ties and the
// next hop of connected versus static routes on a router with overlapping
// static routes.
func TestRouteLPM(t *testing.T) {
	c, err := config.Parse([]byte(lpmConfig))
	if err != nil {
		t.Fatal(err)
	}
	topo, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	gr := router(t, topo, "gr")
	for _, tc := range []struct{ dst, port, nexthop string }{
		{"8.8.8.8", "gr-ext", "172.31.5.1"},         // 0.0.0.0/0
		{"10.1.2.3", "gr-join", "172.16.255.2"},     // 10.0.0.0/8
		{"10.199.100.7", "gr-join", "172.16.255.4"}, // 10.199.0.0/16 beats /8
		{"10.199.5.7", "gr-join", "172.16.255.4"},
		{"172.31.5.9", "gr-ext", "172.31.5.9"},        // connected /24 wins over equal static /24
		{"172.16.255.77", "gr-join", "172.16.255.77"}, // connected
		{"172.31.5.1", "gr-ext", "172.31.5.1"},
		{"203.0.113.5", "gr-ext", "172.31.5.254"}, // /32 host route
	} {
		hop, ok := gr.Route(ip(tc.dst))
		if !ok || hop.Port.Name != tc.port || hop.NextHop != ip(tc.nexthop) {
			t.Errorf("Route(%s) = %s via %s, %v; want %s via %s", tc.dst, hop.NextHop, portName(hop.Port), ok, tc.nexthop, tc.port)
		}
	}
	// No default route: unroutable.
	dr := router(t, topo, "dr")
	if hop, ok := dr.Route(ip("8.8.8.8")); ok {
		t.Errorf("dr.Route(8.8.8.8) = %+v, want no route", hop)
	}
	var order []string
	for _, e := range gr.Routes() {
		order = append(order, e.Prefix.String())
	}
	if got := strings.Join(order, " "); got != "203.0.113.5/32 172.16.255.0/24 172.31.5.0/24 172.31.5.0/24 10.199.0.0/16 10.0.0.0/8 0.0.0.0/0" {
		t.Errorf("table order = %s", got)
	}
}

func TestBuildRejectsInvalid(t *testing.T) {
	c, err := config.Parse([]byte(lpmConfig))
	if err != nil {
		t.Fatal(err)
	}
	c.Routers[1].Zones.DNAT = c.Routers[1].Zones.SNAT
	if _, err := Build(c); err == nil || !strings.Contains(err.Error(), "routers[1].zones.dnat") {
		t.Errorf("Build of an invalid config: %v", err)
	}
}

func portName(p *RouterPort) string {
	if p == nil {
		return "<nil>"
	}
	return p.Name
}

const lpmConfig = `
interfaces: { underlay: { name: eth0, vtep_ip: 172.31.5.23 }, external: { name: eth0 } }
switches:
  - name: join
    key: 1
    ports:
      - { name: dr-join, key: 1, router_port: dr-join }
      - { name: gr-join, key: 2, router_port: gr-join }
routers:
  - name: dr
    distributed: true
    ports:
      - { name: dr-join, mac: ae:03:03:17:eb:df, ip: 172.16.255.2/24 }
  - name: gr
    zones: { dnat: 6, snat: 16 }
    ports:
      - { name: gr-join, mac: ae:cd:cd:04:d7:d4, ip: 172.16.255.3/24 }
      - { name: gr-ext, mac: ae:a9:a9:0c:6f:c8, ip: 172.31.5.230/24, external: true }
    routes:
      - { prefix: 0.0.0.0/0, nexthop: 172.31.5.1 }
      - { prefix: 10.0.0.0/8, nexthop: 172.16.255.2 }
      - { prefix: 10.199.0.0/16, nexthop: 172.16.255.4 }
      - { prefix: 172.31.5.0/24, nexthop: 172.31.5.2 }
      - { prefix: 203.0.113.5, nexthop: 172.31.5.254 }
`
