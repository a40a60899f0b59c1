package ovn

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/sbdb"
	"github.com/xgw-dev/xgw/route"
)

// dgpCommands build the OpenStack shape with ovn-nbctl: a tenant switch
// with one VM behind router dr, whose port dr-ext on the external switch
// (localnet physnet1) is a distributed gateway port with gateway01 at
// priority 20 and gateway02 at 10; dr has the default route, a SNAT of
// the tenant subnet and a floating IP.
var dgpCommands = [][]string{
	{"ls-add", "sw1"},
	{"lsp-add", "sw1", "vm1", "--", "lsp-set-addresses", "vm1", "00:00:19:91:00:10 10.199.100.10"},
	{"lr-add", "dr"},
	{"lrp-add", "dr", "dr-sw1", "ae:95:95:65:27:a6", "10.199.100.1/24"},
	{"lsp-add", "sw1", "sw1-dr", "--", "lsp-set-type", "sw1-dr", "router", "--", "lsp-set-addresses", "sw1-dr", "router", "--", "lsp-set-options", "sw1-dr", "router-port=dr-sw1"},
	{"lrp-add", "dr", "dr-ext", "ae:a9:a9:0c:6f:c8", "198.51.100.1/24"},
	{"ls-add", "ext"},
	{"lsp-add", "ext", "ext-dr", "--", "lsp-set-type", "ext-dr", "router", "--", "lsp-set-addresses", "ext-dr", "router", "--", "lsp-set-options", "ext-dr", "router-port=dr-ext"},
	{"lsp-add", "ext", "ext-localnet", "--", "lsp-set-type", "ext-localnet", "localnet", "--", "lsp-set-addresses", "ext-localnet", "unknown", "--", "lsp-set-options", "ext-localnet", "network_name=physnet1"},
	{"lrp-set-gateway-chassis", "dr-ext", "gateway01", "20"},
	{"lrp-set-gateway-chassis", "dr-ext", "gateway02", "10"},
	{"lr-route-add", "dr", "0.0.0.0/0", "198.51.100.2"},
	{"lr-nat-add", "dr", "snat", "203.0.113.10", "10.199.100.0/24"},
	{"lr-nat-add", "dr", "dnat_and_snat", "203.0.113.20", "10.199.100.10"},
}

// TestDistributedGatewayPort: a router whose distributed gateway port has
// this chassis at the highest priority (lrp-set-gateway-chassis, the
// OpenStack shape) is translated with its datapath key and the
// chassisredirect port's key, its cr- binding is claimed (chassis, up),
// released with a problem reported when another chassis joins its HA
// group (at a lower or a higher priority: xgw runs no BFD), and claimed
// again when that chassis leaves.
func TestDistributedGatewayPort(t *testing.T) {
	e := newOVNEnv(t)
	for _, c := range dgpCommands {
		e.nbctl(c...)
	}
	e.sbctl("chassis-add", "hv1", "geneve", "192.0.2.2")
	e.sbctl("chassis-add", "gateway02", "geneve", "192.0.2.9")
	// xgw must be the only member of the group (it runs no BFD).
	e.nbctl("lrp-del-gateway-chassis", "dr-ext", "gateway02")
	e.sync()
	e.sbctl("lsp-bind", "vm1", "hv1")
	ctl, first, applied := startController(t, e.gwConfig(t, "gateway01"))
	// northd points the HA_Chassis at gateway01 once xgw registered it:
	// the first pass may come before.
	if findRouter(first, "dr") == nil {
		first = nextWith(t, applied, "dr", true, func() string { return fmt.Sprint(ctl.Status().Problems) })
	}
	dr := findRouter(first, "dr")
	crKey := e.key("Port_Binding", "logical_port=cr-dr-ext")
	if int(dr.Key) != e.key("Datapath_Binding", "external_ids:name=dr") || dr.Distributed {
		t.Errorf("dr key %d distributed %v; want the SB datapath key, not distributed", dr.Key, dr.Distributed)
	}
	want := []config.RouterPort{
		{Name: "dr-ext", MAC: "ae:a9:a9:0c:6f:c8", IP: "198.51.100.1/24", External: true, RedirectKey: uint16(crKey)},
		{Name: "dr-sw1", MAC: "ae:95:95:65:27:a6", IP: "10.199.100.1/24"},
	}
	if fmt.Sprint(dr.Ports) != fmt.Sprint(want) {
		t.Errorf("dr ports\n got %+v\nwant %+v", dr.Ports, want)
	}
	if fmt.Sprint(dr.Routes) != "[{0.0.0.0/0 198.51.100.2}]" || len(dr.NAT) != 2 {
		t.Errorf("dr routes %v NAT %v", dr.Routes, dr.NAT)
	}
	if dr.Zones.DNAT == 0 || dr.Zones.SNAT == 0 {
		t.Errorf("dr zones %+v", dr.Zones)
	}
	sw1 := findSwitch(first, "sw1")
	if sw1 == nil || len(sw1.Ports) != 2 || findSwitch(first, "ext") != nil {
		t.Fatalf("switches %+v: want sw1 with sw1-dr and vm1, and no ext", first.Switches)
	}
	topo, err := route.Build(first)
	if err != nil {
		t.Fatalf("the translation does not build: %v", err)
	}
	if rp, ok := topo.RedirectPort(dr.Key); !ok || rp.Name != "dr-ext" || int(rp.RedirectKey) != crKey {
		t.Errorf("RedirectPort(%d) = %v, %v", dr.Key, rp, ok)
	}

	me := e.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01")
	claimed := func() (bool, string) {
		got := e.sbctl("--bare", "--columns=chassis,up", "find", "Port_Binding", "logical_port=cr-dr-ext")
		f := strings.Fields(got)
		return len(f) == 2 && f[0] == me && f[1] == "true", got
	}
	waitFor(t, 5*time.Second, "cr-dr-ext claimed by gateway01 with up=true", claimed)

	// xgw runs no BFD, so it never shares an HA group: with gateway02 in
	// it at a lower or a higher priority, the port is released, dr no
	// longer served and a problem reported; with gateway02 gone, claimed
	// again.
	for _, prio := range []string{"10", "30"} {
		e.nbctl("lrp-set-gateway-chassis", "dr-ext", "gateway02", prio)
		waitFor(t, 5*time.Second, "cr-dr-ext released with gateway02 at priority "+prio, func() (bool, string) {
			got := e.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=cr-dr-ext")
			return got == "", got
		})
		waitFor(t, 5*time.Second, "a problem for the shared HA group (gateway02 at "+prio+")", func() (bool, string) {
			for _, p := range ctl.Status().Problems {
				if p.Object == "distributed gateway port dr-ext" && strings.Contains(p.Reason, "no BFD") && p.Router == "dr" {
					return true, ""
				}
			}
			return false, fmt.Sprint(ctl.Status().Problems)
		})
		if slices.Contains(ctl.Status().Served, "dr") {
			// The status is set before the claims: served would have to go first.
			t.Errorf("dr still served with gateway02 at priority %s: %v", prio, ctl.Status().Served)
		}
		e.nbctl("lrp-del-gateway-chassis", "dr-ext", "gateway02")
		waitFor(t, 5*time.Second, "cr-dr-ext claimed again once gateway02 left the group", claimed)
		for _, p := range ctl.Status().Problems {
			if strings.Contains(p.Reason, "no BFD") {
				t.Errorf("problem still reported with gateway02 gone: %v", p)
			}
		}
	}
}

// nextWith waits (bounded) for an applied topology that has router name
// (with) or lacks it.
func nextWith(t *testing.T, applied chan *config.Config, name string, with bool, state func() string) *config.Config {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case c := <-applied:
			if (findRouter(c, name) != nil) == with {
				return c
			}
		case <-deadline:
			t.Fatalf("no applied topology with router %s = %v within 5s: %s", name, with, state())
			return nil
		}
	}
}

// TestDistributedGatewayPortRefused: a router with a distributed gateway
// port active here and something xgw cannot do (a distributed floating
// IP) is refused as a whole and its cr- binding not claimed.
func TestDistributedGatewayPortRefused(t *testing.T) {
	e := newOVNEnv(t)
	for _, c := range dgpCommands {
		e.nbctl(c...)
	}
	e.nbctl("lr-nat-add", "dr", "dnat_and_snat", "203.0.113.21", "10.199.100.11", "vm1", "00:00:00:00:00:21")
	e.sync()
	ctl, first, applied := startController(t, e.gwConfig(t, "gateway01"))
	waitFor(t, 5*time.Second, "dr refused", func() (bool, string) {
		for _, p := range ctl.Status().Problems {
			if p.Router == "dr" && strings.Contains(p.Reason, "distributed NAT") {
				return true, ""
			}
		}
		return false, fmt.Sprint(ctl.Status().Problems)
	})
	if got := e.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=cr-dr-ext"); got != "" {
		t.Fatalf("cr-dr-ext claimed by %s", got)
	}
	// Bridged redirection (traffic over the localnet, not Geneve) too.
	// (One transaction: dr must never be servable in between.)
	e.nbctl("lr-nat-del", "dr", "dnat_and_snat", "203.0.113.21", "--", "set", "logical_router_port", "dr-ext", "options:redirect-type=bridged")
	waitFor(t, 5*time.Second, "dr refused for bridged redirection", func() (bool, string) {
		for _, p := range ctl.Status().Problems {
			if p.Router == "dr" && strings.Contains(p.Reason, "bridged") {
				return true, ""
			}
		}
		return false, fmt.Sprint(ctl.Status().Problems)
	})
	for c := first; c != nil; {
		if findRouter(c, "dr") != nil {
			t.Fatalf("dr served despite a distributed floating IP")
		}
		select {
		case c = <-applied:
		default:
			c = nil
		}
	}
}

// TestHAActive: the active member of an HA_Chassis_Group is the one with
// the highest priority (xgw runs no BFD).
func TestHAActive(t *testing.T) {
	p := func(s string) *string { return &s }
	s := &snapshot{
		haGroups:  map[string]*sbdb.HAChassisGroup{"g": {UUID: "g", HaChassis: []string{"h1", "h2", "h3"}}},
		haChassis: map[string]*sbdb.HAChassis{"h1": {Chassis: p("a"), Priority: 10}, "h2": {Chassis: p("b"), Priority: 20}, "h3": {Priority: 30}},
	}
	if haActive(s, p("g"), "a") || !haActive(s, p("g"), "b") {
		t.Fatalf("b (priority 20) must be active, not a (10); a member without a chassis does not count")
	}
	if haActive(s, nil, "b") || haActive(s, p("nope"), "b") {
		t.Fatalf("no group: not active")
	}
}

// TestHAActiveTieBreakFollowsOVN: on equal priorities OVN 23.03
// (compare_chassis_prio_) makes the member with the highest chassis name
// active; xgw must agree, or both it and an ovn-controller claim.
func TestHAActiveTieBreakFollowsOVN(t *testing.T) {
	p := func(s string) *string { return &s }
	s := &snapshot{
		chassis:   map[string]*sbdb.Chassis{"uuid-1": {UUID: "uuid-1", Name: "aa-xgw"}, "uuid-2": {UUID: "uuid-2", Name: "zz-ovn-gw"}},
		haGroups:  map[string]*sbdb.HAChassisGroup{"g": {UUID: "g", HaChassis: []string{"h1", "h2"}}},
		haChassis: map[string]*sbdb.HAChassis{"h1": {Chassis: p("uuid-1"), Priority: 10}, "h2": {Chassis: p("uuid-2"), Priority: 10}},
	}
	if haActive(s, p("g"), "uuid-1") {
		t.Errorf("aa-xgw thinks it is active; OVN makes zz-ovn-gw active on a tie")
	}
	if !haActive(s, p("g"), "uuid-2") {
		t.Errorf("zz-ovn-gw must be active on a tie")
	}
}
