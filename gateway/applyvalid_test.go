package gateway

import (
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

// TestApplyValidConfig: a validated configuration (OVN mode's
// translation) applies as ApplyConfig would, without a second
// validation; one whose restart-only sections differ from the running
// ones gets the running values put in and is validated again (an invalid
// combination is refused, nothing touched).
func TestApplyValidConfig(t *testing.T) {
	f := newFixture(t)
	f.write(t, oldSNAT, newSNAT)
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.ApplyValidConfig(cfg); err != nil {
		t.Fatal(err)
	}
	gr, _ := f.pipe.topo.RouterByName("gr1")
	if rules := gr.NATRules(); len(rules) != 1 || rules[0].External != packet.MustIP4("203.0.113.11") {
		t.Fatalf("gr1 rules after ApplyValidConfig: %+v", rules)
	}

	// A restart-only change (the underlay's VTEP) makes the running
	// VTEP come back in, which a chassis at that address conflicts with:
	// validated, refused.
	old := f.pipe.topo
	*f.ev = nil
	f.write(t, "", "")
	bad, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	running := f.r.cfg.Interfaces.Underlay.VTEPIP
	bad.Interfaces.Underlay.VTEPIP = "172.31.5.99"
	bad.Chassis[0].IP = config.IP(running)
	if err := bad.Validate(); err != nil {
		t.Fatalf("the file itself must validate: %v", err)
	}
	_, err = f.r.ApplyValidConfig(bad)
	if err == nil || !strings.Contains(err.Error(), "own VTEP") {
		t.Fatalf("err = %v, want the chassis at the running VTEP refused", err)
	}
	if len(*f.ev) != 0 || f.pipe.topo != old {
		t.Fatalf("a refused apply touched the gateway: %v", *f.ev)
	}
}
