package gateway

import (
	"slices"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
)

// TestApplyConfigValue: OVN mode's entry point applies a configuration
// value without reading the file, through the reload path: a new NAT
// address is steered, the removed one drains while a connection uses it,
// and restart-only fields are kept as running.
func TestApplyConfigValue(t *testing.T) {
	f := newFixture(t)
	f.ct.conns = []conntrack.ConnInfo{snatConn("203.0.113.10")}
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	next := *cfg
	next.Routers = slices.Clone(cfg.Routers)
	for i := range next.Routers {
		if next.Routers[i].Name == "gr1" {
			next.Routers[i].NAT = []config.NAT{{Type: "snat", LogicalIP: "10.199.100.0/24", ExternalIP: "203.0.113.11", PortRange: "1024-65535"}}
		}
	}
	next.Interfaces.External.Name = "elsewhere"
	// The file must not be read: make it unreadable as a config.
	f.write(t, "interfaces:", "garbage:")
	summary, err := f.r.ApplyConfig(&next)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(summary, "\n")
	for _, want := range []string{"203.0.113.11: steered", "203.0.113.10 (router gr1): draining", "not applied until restart: interfaces"} {
		if !strings.Contains(joined, want) {
			t.Errorf("summary lacks %q:\n%s", want, joined)
		}
	}
	if got := f.steered(); !slices.Equal(got, []string{"203.0.113.10", "203.0.113.11"}) {
		t.Errorf("steered %v", got)
	}
	if f.r.cfg.Interfaces.External.Name == "elsewhere" {
		t.Errorf("a restart-only field was applied")
	}
}

// TestReplanWhenVMMoves: a change that moves a VM to another chassis
// sends the offloaded flows back to software to be planned again (their
// Geneve destination was the old chassis); a NAT-only change does not.
func TestReplanWhenVMMoves(t *testing.T) {
	f := newFixture(t)
	replans := 0
	f.r.replan = func() { replans++ }
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	nat := *cfg
	nat.Routers = slices.Clone(cfg.Routers)
	for i := range nat.Routers {
		if nat.Routers[i].Name == "gr1" {
			nat.Routers[i].NAT = append(slices.Clone(nat.Routers[i].NAT), config.NAT{Type: "dnat_and_snat", LogicalIP: "10.199.100.10", ExternalIP: "203.0.113.20", PortRange: "1-65535"})
		}
	}
	if _, err := f.r.ApplyConfig(&nat); err != nil {
		t.Fatal(err)
	}
	if replans != 0 {
		t.Fatalf("a NAT-only change re-planned the offloaded flows")
	}
	// A new chassis moves no flow either.
	grown := nat
	grown.Chassis = append(slices.Clone(nat.Chassis), config.Chassis{Name: "hv2", IP: "192.0.2.3"})
	if _, err := f.r.ApplyConfig(&grown); err != nil {
		t.Fatal(err)
	}
	if replans != 0 {
		t.Fatalf("a new chassis re-planned the offloaded flows")
	}
	mv := grown
	mv.Switches = slices.Clone(nat.Switches)
	for i := range mv.Switches {
		mv.Switches[i].Ports = slices.Clone(mv.Switches[i].Ports)
		for j := range mv.Switches[i].Ports {
			if mv.Switches[i].Ports[j].Name == "vm1" {
				mv.Switches[i].Ports[j].Chassis = "hv2"
			}
		}
	}
	summary, err := f.r.ApplyConfig(&mv)
	if err != nil {
		t.Fatal(err)
	}
	if replans != 1 || !strings.Contains(strings.Join(summary, "\n"), "re-planned") {
		t.Fatalf("replans %d, summary %q: want one re-plan when vm1 moves", replans, summary)
	}
}
