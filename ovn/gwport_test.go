package ovn

import (
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// TestDistributedGatewayPortReported: a distributed gateway port that
// names this chassis (lrp-set-gateway-chassis, the OpenStack shape) is
// reported as unsupported and not claimed.
func TestDistributedGatewayPortReported(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	for _, c := range [][]string{
		{"lr-add", "r2"},
		{"lrp-add", "r2", "r2-ext", "ae:00:00:00:00:01", "198.51.100.9/24"},
		{"lsp-add", "ext", "ext-r2", "--", "lsp-set-type", "ext-r2", "router", "--", "lsp-set-addresses", "ext-r2", "router", "--", "lsp-set-options", "ext-r2", "router-port=r2-ext"},
		{"lrp-set-gateway-chassis", "r2-ext", "gateway01", "20"},
		{"lrp-set-gateway-chassis", "r2-ext", "gateway02", "10"},
	} {
		e.nbctl(c...)
	}
	e.sync()
	ctl, _, _ := startController(t, e.gwConfig(t, "gateway01"))
	waitFor(t, 5*time.Second, "cr-r2-ext reported", func() (bool, string) {
		for _, p := range ctl.Status().Problems {
			if strings.Contains(p.Object, "cr-r2-ext") && p.Router == "r2" {
				return true, ""
			}
		}
		return false, ""
	})
	if got := e.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=cr-r2-ext"); got != "" {
		t.Fatalf("cr-r2-ext claimed by %s", got)
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
