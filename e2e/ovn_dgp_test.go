package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// TestOVNDistributedGatewayProbe captures what a hypervisor sends to the
// gateway chassis of a distributed gateway port (real ovn-controller as
// gateway01). Exploration only: XGW_DGP_PROBE=1.
func TestOVNDistributedGatewayProbe(t *testing.T) {
	if os.Getenv("XGW_DGP_PROBE") == "" {
		t.Skip("XGW_DGP_PROBE not set")
	}
	g := startOVNLabShape(t, lab.GatewayOVN, true)
	o, a := g.ovn, g.addrs
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g.startGateway01(ctx)
	cap := exec.Command("ip", "netns", "exec", o.NS("gw"), "tcpdump", "-nn", "-e", "-vv", "-XX", "-i", "gw-u", "-c", "12", "udp port 6081")
	cap.Stdout, cap.Stderr = os.Stdout, os.Stderr
	cap.Start()
	time.Sleep(time.Second)
	n, out, _ := o.Ping(ctx, "vm1", a.ExtIP, 3)
	t.Logf("ping %d: %s", n, out)
	n, out, _ = o.Ping(ctx, "ext", o.Plan.FloatingIP, 2)
	t.Logf("ping fip %d: %s", n, out)
	time.Sleep(time.Second)
	cap.Process.Kill()
	cap.Wait()
	sb, _ := o.SBCtl(ctx, "show")
	dp, _ := o.SBCtl(ctx, "--columns=tunnel_key,external_ids", "list", "datapath_binding")
	pb, _ := o.SBCtl(ctx, "--columns=logical_port,tunnel_key,type,chassis,up,options", "list", "port_binding")
	t.Logf("%s\n%s\n%s", sb, dp, pb)
}
