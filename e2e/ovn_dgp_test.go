package e2e

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// TestOVNDistributedGateway runs the OpenStack shape end to end against
// xgw in OVN mode as gateway01: router dr's port dr-ext is a distributed
// gateway port (lrp-set-gateway-chassis gateway01), so hypervisors route
// the VMs' traffic themselves and redirect it to gateway01 over Geneve
// with dr's datapath key; xgw claims cr-dr-ext, SNATs (and serves the
// floating IP) and routes the replies onto sw1.
func TestOVNDistributedGateway(t *testing.T) { dgpSuite(t, lab.GatewayXGW) }

// TestOVNDistributedGatewayBaseline runs the same checks with a real
// ovn-controller as gateway01.
func TestOVNDistributedGatewayBaseline(t *testing.T) { dgpSuite(t, lab.GatewayOVN) }

func dgpSuite(t *testing.T, kind lab.GatewayKind) {
	g := startOVNLabShape(t, kind, true)
	o, a := g.ovn, g.addrs
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	g.startGateway01(ctx)
	plan := o.Plan

	t.Run("ping", func(t *testing.T) {
		// The very first packet to the ext host: the hypervisor has no
		// MAC_Binding for it, buffers the echo (pinctrl, up to 10 s)
		// and sends an ARP request through cr-dr-ext; the echo leaves
		// once gateway01 has recorded the answer in SB.
		t0 := time.Now()
		out, err := g.run("vm1", "ping", "-n", "-c", "1", "-W", "8", a.ExtIP.String())
		t.Logf("vm1's first echo to %s: err %v after %v: %s", a.ExtIP, err, time.Since(t0).Round(time.Millisecond), firstLines(strings.TrimSpace(out), 2))
		if !g.real {
			t.Logf("xgw drops after it: neighbor-miss %d, arp %d, neighbor-hold-timeout %d", g.drops("neighbor-miss"), g.drops("arp"), g.drops("neighbor-hold-timeout"))
		}
		if err != nil {
			// xgw lost it while it resolved hv1's VTEP before it asked
			// for every chassis at start (datapath askNeighbors).
			t.Errorf("vm1's first echo to %s was not answered within 8 s (the real ovn-controller answers it)", a.ExtIP)
		}
		for _, vm := range plan.VMs {
			took, ok := until(15*time.Second, func() bool { n, _, _ := o.Ping(ctx, vm.Role, a.ExtIP, 2); return n == 2 })
			// The first VM waits for dr-ext's MAC_Binding of the ext
			// host (its ARP redirected to gateway01, the answer
			// recorded in SB, the hypervisors updated).
			t.Logf("%s on %s: ping %s answered after %v", vm.Role, vm.Chassis, a.ExtIP, took.Round(time.Millisecond))
			if !ok {
				_, out, _ := o.Ping(ctx, vm.Role, a.ExtIP, 3)
				t.Errorf("%s on %s cannot ping %s through the distributed gateway port (tried %v):\n%s", vm.Role, vm.Chassis, a.ExtIP, took, out)
			}
		}
	})

	t.Run("udp-request-response-snat", func(t *testing.T) {
		for i, vm := range plan.VMs {
			want := a.SNATIP
			if vm.Role == plan.FIPVM {
				want = plan.FloatingIP
			}
			ex := g.exchange(vm.Role, 0, 7100+i, 20, time.Second)
			t.Logf("%s on %s: %v", vm.Role, vm.Chassis, ex)
			if ex.Answered < 19 || !seenOnly(ex, want) {
				t.Errorf("%s on %s: %v; want ≥19/20 answered, ext seeing only %s", vm.Role, vm.Chassis, ex, want)
			}
		}
	})

	t.Run("floating-ip", func(t *testing.T) {
		ex := g.inbound(plan.FIPVM, plan.FloatingIP, 7200, 20, time.Second)
		t.Logf("ext -> %s (%s): %v", plan.FloatingIP, plan.FIPVM, ex)
		if ex.Answered < 19 || !seenOnly(ex, a.ExtIP) {
			t.Errorf("ext -> floating IP %s: %v; want ≥19/20 answered, %s seeing %s", plan.FloatingIP, ex, plan.FIPVM, a.ExtIP)
		}
		if n, out, _ := o.Ping(ctx, "ext", plan.FloatingIP, 3); n < 2 {
			t.Errorf("ext cannot ping the floating IP:\n%s", out)
		}
	})

	t.Run("hairpin-floating-ip", func(t *testing.T) {
		// vm1 to vm3's floating IP: the gateway chassis loops it back
		// into dr (lr_out_egr_loop), vm3 sees vm1 as the SNAT address.
		v1, _ := plan.VM("vm1")
		v3, _ := plan.VM(plan.FIPVM)
		ex, err := o.UDPRequestResponseVia("vm1", netip.AddrPortFrom(v1.IP, 0), plan.FIPVM,
			netip.AddrPortFrom(v3.IP, 7250), netip.AddrPortFrom(plan.FloatingIP, 7250), 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("vm1 -> %s (%s): %v", plan.FloatingIP, plan.FIPVM, ex)
		if ex.Answered < 9 || !seenOnly(ex, a.SNATIP) {
			t.Errorf("vm1 -> floating IP %s: %v; want ≥9/10 answered, %s seeing %s", plan.FloatingIP, ex, plan.FIPVM, a.SNATIP)
		}
	})

	t.Run("iperf3", func(t *testing.T) {
		srv, err := g.lab.StartIperfServer()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		for _, vm := range []string{"vm1", "vm2"} {
			for _, rev := range []bool{false, true} {
				dir := "VM -> ext"
				if rev {
					dir = "ext -> VM"
				}
				if g.real {
					mbps := g.iperfFrom(t, vm, rev)
					t.Logf("%s %s: %.0f Mbit/s (real ovn-controller gateway)", vm, dir, mbps)
					if mbps < 1 {
						t.Errorf("%s %s: %.2f Mbit/s", vm, dir, mbps)
					}
					continue
				}
				before := g.fp()
				mbps := g.iperfFrom(t, vm, rev)
				after := g.fp()
				t.Logf("%s %s: %.0f Mbit/s, fast-path hits +%d, software TX +%d", vm, dir, mbps, after.hits-before.hits, after.swTX-before.swTX)
				if mbps < 1 {
					t.Errorf("%s %s: %.2f Mbit/s", vm, dir, mbps)
				}
				if after.hits-before.hits < 1000 {
					t.Errorf("%s %s: fast-path hits +%d during a 2 s iperf3 (software TX +%d): not offloaded", vm, dir, after.hits-before.hits, after.swTX-before.swTX)
				}
			}
		}
		b, _ := os.ReadFile(srv.Log)
		if from := acceptedFrom(string(b)); from != a.SNATIP.String() {
			t.Errorf("iperf3 server saw %q, want the SNAT address %s", from, a.SNATIP)
		}
	})

	t.Run("udp-one-way", func(t *testing.T) {
		for i, vm := range []string{"vm1", "vm2"} {
			v, _ := plan.VM(vm)
			ex, err := o.UDPOneWay(vm, v.IP, 41000+i, "ext", netip.AddrPortFrom(a.ExtIP, uint16(9100+i)), 200, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s one-way: %d/%d arrived, from %v", vm, ex.Answered, ex.Sent, ex.SeenFrom)
			if ex.Answered < 190 || !seenOnly(ex, a.SNATIP) {
				t.Errorf("%s one-way: %d/%d arrived from %v; want ≥190 from %s only", vm, ex.Answered, ex.Sent, ex.SeenFrom, a.SNATIP)
			}
		}
	})

	if g.real {
		return
	}
	t.Run("lr-nat-add-live", func(t *testing.T) {
		newIP := netip.MustParseAddr("203.0.113.30")
		v2, _ := plan.VM("vm2")
		t0 := time.Now()
		if _, err := o.NBCtl(ctx, "lr-nat-add", lab.OVNDistributedRouter, "dnat_and_snat", newIP.String(), v2.IP.String()); err != nil {
			t.Fatal(err)
		}
		took, ok := until(10*time.Second, func() bool { return g.inbound("vm2", newIP, 7300, 1, 100*time.Millisecond).Answered == 1 })
		t.Logf("lr-nat-add dnat_and_snat %s -> %s on dr: live after %v", newIP, v2.IP, took.Round(time.Millisecond))
		if !ok || time.Since(t0) > 2*time.Second {
			out, _ := g.xgw("show")
			t.Errorf("new rule live after %v (ok=%v), want within 2s; xgw show:\n%s", took, ok, out)
		}
	})

	t.Run("gateway-chassis-priority", func(t *testing.T) {
		// Another chassis of higher priority: xgw releases cr-dr-ext
		// (and stops serving dr); removed again: xgw claims it back and
		// traffic flows. gateway02 is a registered chassis that nothing
		// runs (its encap IP answers nobody).
		if out, _ := g.xgw("show"); !strings.Contains(out, `router "`+lab.OVNDistributedRouter+`" (distributed gateway port served here`) ||
			!strings.Contains(out, `Port_Binding "cr-`+lab.DistributedGatewayPort+`"`) {
			t.Errorf("xgw show does not show dr served through cr-dr-ext:\n%s", out)
		}
		if _, err := o.SBCtl(ctx, "chassis-add", "gateway02", "geneve", "192.0.2.99"); err != nil {
			t.Fatal(err)
		}
		if _, err := o.NBCtl(ctx, "lrp-set-gateway-chassis", lab.DistributedGatewayPort, "gateway02", "30"); err != nil {
			t.Fatal(err)
		}
		cr := "cr-" + lab.DistributedGatewayPort
		took, ok := until(10*time.Second, func() bool { c, _ := o.PortChassis(ctx, cr); return c != lab.GatewayChassis })
		c, _ := o.PortChassis(ctx, cr)
		t.Logf("gateway02 at priority 30: %s released by xgw after %v (now bound to %q)", cr, took.Round(time.Millisecond), c)
		if !ok {
			t.Fatalf("xgw did not release %s within %v", cr, took)
		}
		if out, _ := g.xgw("show"); strings.Contains(out, `router "`+lab.OVNDistributedRouter+`"`) {
			t.Errorf("xgw still shows router dr after releasing its gateway port:\n%s", out)
		}
		// gateway02 below gateway01 again: with two members the
		// hypervisors run BFD to both and send only to a live one; xgw
		// runs no BFD, so it does not claim cr-dr-ext and reports a
		// problem (ovn/README.md).
		if _, err := o.NBCtl(ctx, "lrp-set-gateway-chassis", lab.DistributedGatewayPort, "gateway02", "5"); err != nil {
			t.Fatal(err)
		}
		took, ok = until(10*time.Second, func() bool { out, _ := g.xgw("show"); return strings.Contains(out, "xgw runs no BFD") })
		if !ok {
			out, _ := g.xgw("show")
			t.Errorf("no problem for the shared HA group in xgw show after %v:\n%s", took, out)
		}
		if c, _ := o.PortChassis(ctx, cr); c == lab.GatewayChassis {
			t.Errorf("xgw holds %s while gateway02 shares its HA group", cr)
		}
		if _, err := o.NBCtl(ctx, "lrp-del-gateway-chassis", lab.DistributedGatewayPort, "gateway02"); err != nil {
			t.Fatal(err)
		}
		if err := o.WaitPortChassis(ctx, cr, lab.GatewayChassis, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		took, ok = until(15*time.Second, func() bool { return g.exchange("vm1", 0, 7600, 1, 300*time.Millisecond).Answered == 1 })
		t.Logf("gateway02 removed: %s claimed again, vm1 answered after %v", cr, took.Round(time.Millisecond))
		if !ok {
			out, _ := g.xgw("show")
			t.Fatalf("no traffic through xgw after it claimed %s back:\n%s", cr, out)
		}
	})
}
