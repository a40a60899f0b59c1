package e2e

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndpointIndependentMapping: with "mapping: endpoint-independent" on
// the lab's SNAT rule, one VM socket talking to three destinations (the
// external host's ports 9201-9203) leaves with one external port toward
// all of them, as conntrack's reply tuples show. The rule's port range
// (20000-29999) excludes the VM's port 41200, so the port is chosen, not
// kept: endpoint-dependent mapping would choose it per destination.
func TestEndpointIndependentMapping(t *testing.T) {
	g := startGatewayWith(t, gwOptions{mutate: func(y string) string {
		re := regexp.MustCompile(`\n( *)external_ip: ` + regexp.QuoteMeta(labSNATIP(y)))
		if !re.MatchString(y) {
			t.Fatalf("no SNAT rule's external_ip in the lab config:\n%s", y)
		}
		return re.ReplaceAllString(y, "$0\n${1}mapping: endpoint-independent\n${1}port_range: 20000-29999")
	}})
	a := g.addrs
	const sport = 41200
	var c *net.UDPConn
	if err := g.lab.Do("vm", func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: sport})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// One datagram per destination until conntrack has the three.
	re := regexp.MustCompile(`sport=` + strconv.Itoa(sport) + `,dport=(920[123])\),reply=\(src=[0-9.]+,dst=` +
		regexp.QuoteMeta(a.SNATIP.String()) + `,sport=920[123],dport=([0-9]+)\)`)
	ports := map[string]string{}
	waitFor(t, 15*time.Second, func() bool {
		for d := 9201; d <= 9203; d++ {
			c.WriteToUDP([]byte("eim"), &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: d})
		}
		out, err := g.xgw("dump-conntrack")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(out, -1) {
			ports[m[1]] = m[2]
		}
		return len(ports) == 3
	}, "conntrack to hold the VM's three SNATed connections")
	want := ports["9201"]
	for d, p := range ports {
		if p != want {
			t.Fatalf("external ports per destination %v: want one for all", ports)
		}
		if n, _ := strconv.Atoi(p); n < 20000 || n > 29999 {
			t.Fatalf("destination %s: external port %s outside the rule's range", d, p)
		}
	}
	s := g.stats()
	m, _ := s["nat_mappings"].(map[string]any)
	if live, _ := m["Live"].(float64); live != 1 {
		t.Errorf("nat_mappings %v: want 1 live mapping", m)
	}
	if reused, _ := m["Reused"].(float64); reused < 2 {
		t.Errorf("nat_mappings %v: want >= 2 reuses", m)
	}
	t.Logf("VM port %d left as %s:%s toward %s", sport, a.SNATIP, want, fmt.Sprint(ports))
}

// labSNATIP returns the lab config's SNAT address (its first external_ip).
func labSNATIP(y string) string {
	_, rest, _ := strings.Cut(y, "external_ip: ")
	ip, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(ip)
}
