package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestNeighbourMissHeld: the gateway forgets the external next hop's MAC
// (its kernel entry is deleted, as after a failover or an ageing), and a
// new UDP flow's first datagrams, sent back to back, all reach the
// external host: xgw holds them while the kernel resolves the next hop and
// sends them when it has, instead of dropping the first packets of the
// flow (OVN's ovn-controller buffers them the same way).
func TestNeighbourMissHeld(t *testing.T) {
	g := startGateway(t)
	a := g.addrs
	nh := a.ExtIP.String()

	// Two sinks: one for the warm-up flow, one that counts only the
	// measured flow.
	warmSink, err := g.lab.StartUDPSink(9118)
	if err != nil {
		t.Fatal(err)
	}
	defer warmSink.Stop()
	sink, err := g.lab.StartUDPSink(9119)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Stop()
	dial := func(sport, dport int) *net.UDPConn {
		var c *net.UDPConn
		if err := g.lab.Do("vm", func() (err error) {
			c, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: sport}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: dport})
			return
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Warm up the path (the VM's and the hypervisor's ARP, the gateway's
	// next hop) with another flow until the sink hears it.
	warm := dial(41118, 9118)
	waitFor(t, 15*time.Second, func() bool {
		warm.Write([]byte("warm"))
		p, _, _ := warmSink.UDPSinkStats()
		return p > 0
	}, "the warm-up flow to reach its sink")
	if p, _, _ := sink.UDPSinkStats(); p != 0 {
		t.Fatalf("the measured sink counted %d datagrams before the test", p)
	}
	entries := mirrorEntries(t, g)

	// Forget the next hop in the gateway's kernel and wait until xgw's
	// mirror of the table has forgotten it too.
	if out, err := g.run("gw", "ip", "neigh", "del", nh, "dev", a.GWExternal); err != nil {
		t.Fatalf("ip neigh del %s: %v %s", nh, err, out)
	}
	waitFor(t, 5*time.Second, func() bool {
		out, _ := g.run("gw", "ip", "neigh", "show", nh, "dev", a.GWExternal)
		return !strings.Contains(out, "lladdr")
	}, "the gateway's kernel to forget "+nh)
	waitFor(t, 5*time.Second, func() bool { return mirrorEntries(t, g) < entries },
		"xgw's neighbour mirror to drop "+nh)
	before := pipelineCounters(t, g)

	const n = 4 // the default per-next-hop bound
	c := dial(41119, 9119)
	for i := range n {
		if _, err := c.Write([]byte(fmt.Sprintf("first %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() bool {
		p, _, _ := sink.UDPSinkStats()
		return p >= n
	}, fmt.Sprintf("all %d first datagrams of the new flow at the sink", n))
	if p, _, _ := sink.UDPSinkStats(); p != n {
		t.Errorf("sink counted %d datagrams, sent %d", p, n)
	}
	after := pipelineCounters(t, g)
	if after.held-before.held < 1 || after.holdSent-before.holdSent != after.held-before.held {
		t.Errorf("held %v, sent from hold %v: want >= 1 held, all of them sent",
			after.held-before.held, after.holdSent-before.holdSent)
	}
	if d := after.neighDrops - before.neighDrops; d != 0 {
		t.Errorf("%v neighbour drops (miss, hold full, hold timeout)", d)
	}
}

type holdCounters struct{ held, holdSent, neighDrops float64 }

// mirrorEntries is the number of addresses xgw's neighbour mirror resolves.
func mirrorEntries(t *testing.T, g *gateway) float64 {
	t.Helper()
	n, _ := g.stats()["neighbors"].(map[string]any)
	e, ok := n["Entries"].(float64)
	if !ok {
		t.Fatalf("stats have no neighbors.Entries: %v", n)
	}
	return e
}

// pipelineCounters reads the hold counters from xgw stats.
func pipelineCounters(t *testing.T, g *gateway) holdCounters {
	t.Helper()
	s := g.stats()
	p, _ := s["pipeline"].(map[string]any)
	v, _ := p["verdicts"].(map[string]any)
	d, _ := p["drops"].(map[string]any)
	var c holdCounters
	c.held, _ = v["held"].(float64)
	c.holdSent, _ = p["hold_sent"].(float64)
	for _, k := range []string{"neighbor-miss", "neighbor-hold-full", "neighbor-hold-timeout"} {
		x, _ := d[k].(float64)
		c.neighDrops += x
	}
	return c
}
