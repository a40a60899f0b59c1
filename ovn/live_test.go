package ovn

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// waitApplied waits for an applied topology that satisfies cond and
// returns it and when it came.
func waitApplied(t *testing.T, applied chan *config.Config, d time.Duration, what string, cond func(*config.Config) bool) *config.Config {
	t.Helper()
	timeout := time.After(d)
	var last *config.Config
	for {
		select {
		case c := <-applied:
			if cond(c) {
				return c
			}
			last = c
		case <-timeout:
			if last == nil {
				t.Fatalf("timed out after %v waiting for %s: nothing applied", d, what)
			}
			t.Fatalf("timed out after %v waiting for %s; last applied routers %+v switches %+v", d, what, last.Routers, last.Switches)
		}
	}
}

func hasNAT(c *config.Config, router, ext string) bool {
	r := findRouter(c, router)
	if r == nil {
		return false
	}
	for _, n := range r.NAT {
		if string(n.ExternalIP) == ext {
			return true
		}
	}
	return false
}

// TestNATAddDelLive: lr-nat-add on the served router is applied within
// 2 s without any restart, and lr-nat-del removes it, with the other rule
// untouched.
func TestNATAddDelLive(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	_, first, applied := startController(t, e.gwConfig(t, "gateway01"))

	start := time.Now()
	e.nbctl("lr-nat-add", "gr1", "dnat_and_snat", "203.0.113.20", "10.199.100.10")
	c := waitApplied(t, applied, 2*time.Second, "the dnat_and_snat rule", func(c *config.Config) bool { return hasNAT(c, "gr1", "203.0.113.20") })
	t.Logf("lr-nat-add -> applied in %v", time.Since(start))
	if !hasNAT(c, "gr1", "203.0.113.10") {
		t.Fatalf("the SNAT rule went missing: %+v", findRouter(c, "gr1").NAT)
	}
	// Existing connections live in the router's zones: they must not move.
	if z0, z1 := findRouter(first, "gr1").Zones, findRouter(c, "gr1").Zones; z0 != z1 {
		t.Fatalf("gr1's zones moved from %+v to %+v on a NAT change", z0, z1)
	}
	start = time.Now()
	e.nbctl("lr-nat-del", "gr1", "dnat_and_snat", "203.0.113.20")
	c = waitApplied(t, applied, 2*time.Second, "the rule removed", func(c *config.Config) bool { return !hasNAT(c, "gr1", "203.0.113.20") })
	t.Logf("lr-nat-del -> applied in %v", time.Since(start))
	if !hasNAT(c, "gr1", "203.0.113.10") {
		t.Fatalf("the SNAT rule went missing: %+v", findRouter(c, "gr1").NAT)
	}
	// external_port_range is carried over.
	e.nbctl("--portrange", "lr-nat-add", "gr1", "snat", "203.0.113.30", "10.199.100.10", "2000-3000")
	c = waitApplied(t, applied, 2*time.Second, "the port-ranged rule", func(c *config.Config) bool { return hasNAT(c, "gr1", "203.0.113.30") })
	for _, n := range findRouter(c, "gr1").NAT {
		if n.ExternalIP == "203.0.113.30" && n.PortRange != "2000-3000" {
			t.Errorf("port range %q, want 2000-3000", n.PortRange)
		}
	}
}

func vmChassis(c *config.Config, vm string) (chassis string, ip string) {
	for _, s := range c.Switches {
		for _, p := range s.Ports {
			if p.Name == vm {
				for _, ch := range c.Chassis {
					if ch.Name == p.Chassis {
						return ch.Name, string(ch.IP)
					}
				}
				return p.Chassis, ""
			}
		}
	}
	return "", ""
}

// TestVIFMoves: a VM whose port is bound to another chassis is delivered
// to that chassis's VTEP; a new VM appears once bound.
func TestVIFMoves(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	e.sbctl("chassis-add", "hv2", "geneve", "192.0.2.3")
	_, first, applied := startController(t, e.gwConfig(t, "gateway01"))
	if ch, ip := vmChassis(first, "vm1"); ch != "hv1" || ip != "192.0.2.2" {
		t.Fatalf("vm1 on %s (%s), want hv1 192.0.2.2", ch, ip)
	}
	e.sbctl("lsp-unbind", "vm1")
	e.sbctl("lsp-bind", "vm1", "hv2")
	waitApplied(t, applied, 2*time.Second, "vm1 on hv2", func(c *config.Config) bool {
		ch, ip := vmChassis(c, "vm1")
		return ch == "hv2" && ip == "192.0.2.3"
	})
	e.nbctl("lsp-add", "sw1", "vm2", "--", "lsp-set-addresses", "vm2", "00:00:19:91:00:11 10.199.100.11")
	e.sync()
	e.sbctl("lsp-bind", "vm2", "hv1")
	waitApplied(t, applied, 2*time.Second, "vm2 on hv1", func(c *config.Config) bool {
		ch, _ := vmChassis(c, "vm2")
		return ch == "hv1"
	})
}

// TestRouterBoundElsewhere: a gateway router bound to another chassis is
// neither served nor claimed; rebinding it to us serves and claims it,
// and binding it away again releases it.
func TestRouterBoundElsewhere(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	e.nbctl("set", "logical_router", "gr1", "options:chassis=gateway02")
	e.sync()
	ctl, first, applied := startController(t, e.gwConfig(t, "gateway01"))
	if findRouter(first, "gr1") != nil {
		t.Fatalf("gr1 bound to gateway02 is served here")
	}
	// A chassis that serves nothing yet still starts a gateway.
	if _, err := route.Build(first); err != nil {
		t.Fatalf("the empty translation does not build: %v", err)
	}
	me := e.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01")
	if got := e.sbctl("--bare", "--columns=logical_port", "find", "Port_Binding", "chassis="+me); got != "" {
		t.Fatalf("claimed %q, want nothing", got)
	}
	e.nbctl("set", "logical_router", "gr1", "options:chassis=gateway01")
	waitApplied(t, applied, 2*time.Second, "gr1 served", func(c *config.Config) bool { return findRouter(c, "gr1") != nil })
	waitFor(t, 3*time.Second, "gr1's ports claimed", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=logical_port", "find", "Port_Binding", "chassis="+me)
		return len(strings.Fields(got)) == 4, got
	})
	e.nbctl("set", "logical_router", "gr1", "options:chassis=gateway02")
	waitApplied(t, applied, 2*time.Second, "gr1 released", func(c *config.Config) bool { return findRouter(c, "gr1") == nil })
	waitFor(t, 3*time.Second, "gr1's ports released", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=logical_port", "find", "Port_Binding", "chassis="+me)
		return got == "", got
	})
	if st := ctl.Status(); len(st.Served) != 0 {
		t.Errorf("status serves %v", st.Served)
	}
}

// TestLoadBalancerRefusesRouter: a load balancer on a gateway router makes
// xgw refuse that router as a whole (not claimed, not served) and report
// it, while another gateway router on the chassis is served.
func TestLoadBalancerRefusesRouter(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	// A second gateway router gr2 with its own join and external switch.
	for _, c := range [][]string{
		{"lr-add", "gr2", "--", "set", "logical_router", "gr2", "options:chassis=gateway01"},
		{"lrp-add", "gr2", "gr2-join", "ae:cd:cd:04:d7:d5", "172.16.255.4/24"},
		{"lsp-add", "join", "join-gr2", "--", "lsp-set-type", "join-gr2", "router", "--", "lsp-set-addresses", "join-gr2", "router", "--", "lsp-set-options", "join-gr2", "router-port=gr2-join"},
		{"lrp-add", "gr2", "gr2-ext", "ae:a9:a9:0c:6f:c9", "198.51.100.3/24"},
		{"lsp-add", "ext", "ext-gr2", "--", "lsp-set-type", "ext-gr2", "router", "--", "lsp-set-addresses", "ext-gr2", "router", "--", "lsp-set-options", "ext-gr2", "router-port=gr2-ext"},
		{"lr-nat-add", "gr2", "snat", "203.0.113.11", "10.199.100.0/24"},
		{"lb-add", "lb1", "203.0.113.50:80", "10.199.100.10:8080", "tcp"},
		{"lr-lb-add", "gr2", "lb1"},
	} {
		e.nbctl(c...)
	}
	e.sync()
	ctl, first, _ := startController(t, e.gwConfig(t, "gateway01"))
	if findRouter(first, "gr2") != nil {
		t.Fatalf("gr2 with a load balancer is served")
	}
	if findRouter(first, "gr1") == nil {
		t.Fatalf("gr1 is not served")
	}
	st := ctl.Status()
	found := false
	for _, p := range st.Problems {
		if p.Router == "gr2" && strings.Contains(p.Reason, "load balanc") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no load-balancer problem for gr2 in %+v", st.Problems)
	}
	if fmt.Sprint(st.Served) != "[gr1]" {
		t.Errorf("served %v, want [gr1]", st.Served)
	}
	me := e.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01")
	waitFor(t, 3*time.Second, "only gr1's ports claimed", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=logical_port", "find", "Port_Binding", "chassis="+me)
		return len(strings.Fields(got)) == 4 && !strings.Contains(got, "gr2"), got
	})
}

// TestSBRestart: the SB server killed and restarted on the same socket:
// the controller keeps the last topology while it is away (nothing is
// applied), reconnects, re-registers, and picks up a change made in NB
// meanwhile.
func TestSBRestart(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	ctl, _, applied := startController(t, e.gwConfig(t, "gateway01"))
	e.stopDB("sb")
	waitFor(t, 5*time.Second, "the controller to see SB gone", func() (bool, string) {
		st := ctl.Status()
		return !st.Connected["sb"], fmt.Sprint(st.Connected)
	})
	e.nbctl("lr-nat-add", "gr1", "dnat_and_snat", "203.0.113.21", "10.199.100.10")
	select {
	case c := <-applied:
		t.Fatalf("applied a topology while SB was down: %+v", c.Routers)
	case <-time.After(300 * time.Millisecond):
	}
	e.startDB("sb")
	c := waitApplied(t, applied, 10*time.Second, "the NAT rule added while SB was down", func(c *config.Config) bool { return hasNAT(c, "gr1", "203.0.113.21") })
	if findRouter(c, "gr1") == nil || !hasNAT(c, "gr1", "203.0.113.10") {
		t.Fatalf("after the resync: %+v", c.Routers)
	}
	st := ctl.Status()
	if !st.Connected["sb"] || st.Disconnects["sb"] != 1 {
		t.Errorf("status connected %v disconnects %v, want sb connected after 1 disconnect", st.Connected, st.Disconnects)
	}
	if v := e.sbctl("get", "Chassis", "gateway01", "other_config:port-up-notif"); v != `"true"` {
		t.Errorf("chassis after the restart: port-up-notif %s", v)
	}
}

// TestMACBinding: an external neighbour the gateway learned is recorded
// in MAC_Binding for the gateway router's external port, as OVN's router
// does; a changed MAC updates the row; a neighbour outside the port's
// subnet is not recorded.
func TestMACBinding(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	var mu sync.Mutex
	neigh := map[packet.IP4]packet.MAC{
		{198, 51, 100, 2}: {0x02, 0, 0, 0, 0, 0x02},
		{192, 0, 2, 99}:   {0x02, 0, 0, 0, 0, 0x99},
	}
	cfg := e.gwConfig(t, "gateway01")
	c, err := New(Options{Config: cfg, Neighbors: func() map[packet.IP4]packet.MAC {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(neigh)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	row := func() string {
		return e.sbctl("--bare", "--columns=logical_port,ip,mac", "find", "MAC_Binding")
	}
	waitFor(t, 5*time.Second, "the MAC_Binding row", func() (bool, string) {
		got := strings.Fields(row())
		return strings.Join(got, " ") == "gr1-ext 198.51.100.2 02:00:00:00:00:02", strings.Join(got, " ")
	})
	if dp := e.sbctl("--bare", "--columns=datapath", "find", "MAC_Binding", "ip=198.51.100.2"); dp != e.sbctl("--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=gr1") {
		t.Errorf("datapath %s is not gr1's", dp)
	}
	mu.Lock()
	neigh[packet.IP4{198, 51, 100, 2}] = packet.MAC{0x02, 0, 0, 0, 0, 0x22}
	mu.Unlock()
	waitFor(t, 6*time.Second, "the MAC updated", func() (bool, string) {
		got := strings.Join(strings.Fields(row()), " ")
		return got == "gr1-ext 198.51.100.2 02:00:00:00:00:22", got
	})
}

// TestPassKeepsUnchangedTables: a pass lists again only the tables whose
// cache changed, and one for a change translation does not read (a
// MAC_Binding row, our own nb_cfg write) keeps the last translation;
// a NAT rule added afterwards is still translated and applied.
func TestPassKeepsUnchangedTables(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	ctl, _, applied := startController(t, e.gwConfig(t, "gateway01"))
	// Wait for the passes of the start (claims, nb_cfg) to settle.
	var n uint64
	waitFor(t, 5*time.Second, "the translations to settle", func() (bool, string) {
		m := ctl.Status().Translations
		time.Sleep(400 * time.Millisecond)
		n = ctl.Status().Translations
		return n == m, fmt.Sprintf("%d then %d translations", m, n)
	})
	syncs := ctl.Status().Syncs
	// A MAC_Binding row (what xgw writes itself for learned neighbours,
	// and what aging deletes) and a northd nb_cfg round: passes, no
	// translation.
	dp := e.sbctl("--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=gr1")
	e.sbctl("create", "MAC_Binding", "logical_port=gr1-ext", "ip=198.51.100.77", "mac=\"00:00:5e:00:53:77\"", "datapath="+dp)
	e.nbctl("--wait=sb", "sync")
	me := e.sbctl("--bare", "--columns=nb_cfg", "find", "Chassis_Private", "name=gateway01")
	global := e.sbctl("--bare", "--columns=nb_cfg", "list", "SB_Global")
	waitFor(t, 5*time.Second, "nb_cfg reported", func() (bool, string) {
		me = e.sbctl("--bare", "--columns=nb_cfg", "find", "Chassis_Private", "name=gateway01")
		return me == global, "Chassis_Private nb_cfg " + me + ", SB_Global " + global
	})
	if got := ctl.Status().Translations; got != n {
		t.Errorf("%d translations after a MAC_Binding row and an nb_cfg round, want %d (kept)", got, n)
	}
	if got := ctl.Status().Syncs; got != syncs {
		t.Errorf("%d syncs, want %d: nothing changed", got, syncs)
	}
	e.nbctl("lr-nat-add", "gr1", "dnat_and_snat", "203.0.113.20", "10.199.100.10")
	waitApplied(t, applied, 2*time.Second, "the dnat_and_snat rule", func(c *config.Config) bool { return hasNAT(c, "gr1", "203.0.113.20") })
	if got := ctl.Status().Translations; got <= n {
		t.Errorf("%d translations after lr-nat-add, want more than %d", got, n)
	}
}
