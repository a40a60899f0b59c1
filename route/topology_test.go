package route

import (
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

func TestNATIPsExcludeHostAddresses(t *testing.T) {
	topo := build(t, "seed.yaml")
	got := topo.NATIPs()
	if len(got) != 1 || got[0] != packet.MustIP4("123.123.123.123") {
		t.Fatalf("NATIPs = %v, want only the SNAT address (the external port's 172.31.5.230 is the host's)", got)
	}
}
