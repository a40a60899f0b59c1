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
