package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func needOVN(t *testing.T) {
	t.Helper()
	needRoot(t)
	for _, tool := range []string{"ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl", "ovn-appctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/install-deps.sh (ovn-central, ovn-host)", tool)
		}
	}
}

func upOVN(t *testing.T, opts OVNOptions) *OVN {
	t.Helper()
	needOVN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	opts.KeepWorkDir = true // removed below unless the test failed
	o, err := UpOVN(ctx, opts)
	if err != nil {
		t.Fatalf("UpOVN: %v", err)
	}
	t.Logf("OVN lab %s up in %v", o.Name(), time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("OVN lab %s: logs kept in %s", o.Name(), o.Config().WorkDir)
			dumpOVN(t, o)
		}
		if err := o.Down(); err != nil {
			t.Errorf("Down: %v", err)
		}
		if !t.Failed() {
			os.RemoveAll(o.Config().WorkDir)
		}
	})
	return o
}

// dumpOVN logs what explains a failure: SB show, NB show.
func dumpOVN(t *testing.T, o *OVN) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := o.SBCtl(ctx, "show")
	t.Logf("ovn-sbctl show: %v\n%s", err, sb)
	nb, err := o.NBCtl(ctx, "show")
	t.Logf("ovn-nbctl show: %v\n%s", err, nb)
}

// TestOVNBaseline proves the OVN lab's topology with a real ovn-controller
// as gateway01: every VM (on both hypervisors) pings the ext host, UDP
// request/response works and the ext host sees the SNAT address (the FIP
// for vm3), and the ext host reaches vm3 at its floating IP.
func TestOVNBaseline(t *testing.T) {
	o := upOVN(t, OVNOptions{Gateway: GatewayOVN, Log: t.Logf})
	a := o.Config()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, vm := range o.Plan.VMs {
		// The first packets may be spent on ARP (GR for ext) and on
		// ovn-controller installing the new chassis' tunnel.
		deadline := time.Now().Add(20 * time.Second)
		for {
			n, out, _ := o.Ping(ctx, vm.Role, a.ExtIP, 2)
			if n == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (on %s) cannot ping %s through real OVN:\n%s", vm.Role, vm.Chassis, a.ExtIP, out)
			}
		}
	}
	for i, vm := range o.Plan.VMs {
		want := a.SNATIP
		if vm.Role == o.Plan.FIPVM {
			want = o.Plan.FloatingIP
		}
		ex, err := o.UDPRequestResponse(vm.Role, vm.IP, "ext", netip.AddrPortFrom(a.ExtIP, uint16(7100+i)), 20, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s on %s: %v", vm.Role, vm.Chassis, ex)
		if ex.Answered < 19 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != want {
			t.Errorf("%s on %s: UDP %v, want ≥19/20 answered and the ext host seeing only %s", vm.Role, vm.Chassis, ex, want)
		}
	}
	fip, _ := o.Plan.VM(o.Plan.FIPVM)
	ex, err := o.UDPRequestResponseVia("ext", netip.AddrPortFrom(a.ExtIP, 0), fip.Role, netip.AddrPortFrom(fip.IP, 7200), netip.AddrPortFrom(o.Plan.FloatingIP, 7200), 20, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ext -> floating IP %s (%s): %v", o.Plan.FloatingIP, fip.Role, ex)
	if ex.Answered < 19 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != a.ExtIP {
		t.Errorf("ext -> floating IP: %v, want ≥19/20 answered and %s seeing only %s", ex, fip.Role, a.ExtIP)
	}
	n, out, _ := o.Ping(ctx, "ext", o.Plan.FloatingIP, 3)
	if n < 2 {
		t.Errorf("ext cannot ping the floating IP %s:\n%s", o.Plan.FloatingIP, out)
	}
}

// settledLflows waits for northd to catch up with NB and returns the
// normalised logical flows.
func settledLflows(t *testing.T, ctx context.Context, o *OVN) string {
	t.Helper()
	if _, err := o.NBCtl(ctx, "--wait=sb", "sync"); err != nil {
		t.Fatal(err)
	}
	f, err := o.LogicalFlows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestOVNBaselineLflowsAndMove checks, with real OVN only, what the xgw
// tests rely on: the logical flows are the same with and without a real
// gateway01 registered, a chassis registered without ovn-controller's
// feature flags does change them (so the comparison can fail), and a VM
// moved to the other hypervisor (MoveVM) gets its replies there.
func TestOVNBaselineLflowsAndMove(t *testing.T) {
	o := upOVN(t, OVNOptions{Gateway: GatewayOVN, DeferGateway: true, Log: t.Logf})
	a := o.Config()
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	without := settledLflows(t, ctx, o)
	if err := o.StartOVNGateway(ctx); err != nil {
		t.Fatal(err)
	}
	with := settledLflows(t, ctx, o)
	if with != without {
		ra, rb := DiffLines(without, with, 20)
		t.Errorf("lflows differ with a real gateway01 registered:\nonly without: %q\nonly with: %q", ra, rb)
	}
	if _, err := o.SBCtl(ctx, "chassis-add", "flagless", "geneve", "192.0.2.99"); err != nil {
		t.Fatal(err)
	}
	flagless := settledLflows(t, ctx, o)
	if flagless == without {
		t.Errorf("a chassis without feature flags left the lflows unchanged: the comparison cannot catch a downgrade")
	} else {
		ra, rb := DiffLines(without, flagless, 3)
		t.Logf("a flagless chassis changes the lflows (as it must), e.g. %q -> %q", ra, rb)
	}
	if _, err := o.SBCtl(ctx, "chassis-del", "flagless"); err != nil {
		t.Fatal(err)
	}

	vm, _ := o.Plan.VM("vm1")
	check := func(where string) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ex, err := o.UDPRequestResponse(vm.Role, vm.IP, "ext", netip.AddrPortFrom(a.ExtIP, 7300), 5, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Answered == 5 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("vm1 on %s: %v", where, ex)
			}
		}
	}
	check("hv1")
	t0 := time.Now()
	if err := o.MoveVM(ctx, "vm1", "hv2"); err != nil {
		t.Fatal(err)
	}
	check("hv2")
	t.Logf("vm1 moved to hv2 and answered in %v", time.Since(t0).Round(time.Millisecond))
}

// TestOVNScaleFixture fills a small instance of the scale fixture and
// checks what it made: routers bound to gateway01 with their SNAT rule and
// route, every VIF's Port_Binding on the chassis the plan gives it, and
// the fake chassis carrying a real ovn-controller's feature flags (the
// logical flows do not change when they are added).
func TestOVNScaleFixture(t *testing.T) {
	o := upOVN(t, OVNOptions{Gateway: GatewayXGW, NoTopology: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := o.FillScale(ctx, ScaleOptions{Routers: 20, VIFsPerRouter: 5, Chassis: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", f)
	if f.VIFs != 100 || f.PortBindings < 100+4*20 || f.LogicalFlows == 0 {
		t.Errorf("fill: %+v; want 100 VIFs, ≥180 port bindings, some logical flows", f)
	}
	for _, c := range []struct{ i, j int }{{0, 0}, {3, 2}, {19, 4}} {
		want := fmt.Sprintf("scale-%d", (c.i*5+c.j)%4)
		if got, err := o.PortChassis(ctx, ScaleVIF(c.i, c.j)); err != nil || got != want {
			t.Errorf("%s bound to %q (%v), want %s", ScaleVIF(c.i, c.j), got, err, want)
		}
	}
	nat, err := o.NBCtl(ctx, "lr-nat-list", ScaleRouterName(7))
	if err != nil || !strings.Contains(nat, ScaleExternalIP(7).String()) || !strings.Contains(nat, "snat") {
		t.Errorf("lr-nat-list gr-7: %v\n%s", err, nat)
	}
	rt, err := o.NBCtl(ctx, "lr-route-list", ScaleRouterName(7))
	if err != nil || !strings.Contains(rt, "198.18.0.1") {
		t.Errorf("lr-route-list gr-7: %v\n%s", err, rt)
	}
	opt, err := o.NBCtl(ctx, "get", "logical_router", ScaleRouterName(19), "options:chassis")
	if err != nil || strings.Trim(opt, `"`) != GatewayChassis {
		t.Errorf("gr-19 options:chassis = %q (%v)", opt, err)
	}
	flags, err := o.SBCtl(ctx, "get", "chassis", "scale-3", "other_config")
	real, err2 := o.SBCtl(ctx, "get", "chassis", "hv1", "other_config")
	if err != nil || err2 != nil || flags != real || !strings.Contains(flags, "ct-no-masked-label") {
		t.Errorf("scale-3 other_config %q, hv1's %q (%v %v)", flags, real, err, err2)
	}
}

// TestOVNUpDownLeavesNothing: the OVN lab's daemons (NB/SB, northd, both
// hypervisors' and the gateway's OVS and ovn-controller) all run inside
// its namespaces, nothing is added to the root namespace, and after Down
// no namespace, process or work dir is left; a second Down is fine.
func TestOVNUpDownLeavesNothing(t *testing.T) {
	needOVN(t)
	before := rootLinks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, err := UpOVN(ctx, OVNOptions{Gateway: GatewayOVN})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Down()
	wd := o.Config().WorkDir
	procs := procsMentioning(wd)
	for _, want := range []string{"ovn-northd", "ovn/nb.db", "ovn/sb.db", "hv1/ovs/db", "hv2/ovs/db", "gw/ovs/db"} {
		found := false
		for _, p := range procs {
			found = found || strings.Contains(p, want)
		}
		if !found {
			t.Errorf("no process for %s among %q", want, procs)
		}
	}
	if n := len(nsPids(labNamespacesMust(t, o.Name()))); n < 12 {
		t.Errorf("only %d processes inside the lab's namespaces, want ≥12 (3 OVS x 2, 3 ovn-controller, 2 ovsdb-server, northd)", n)
	}
	for name := range rootLinks(t) {
		if !before[name] {
			t.Errorf("root namespace gained link %s", name)
		}
	}
	if err := o.Down(); err != nil {
		t.Fatal(err)
	}
	if nss, _ := labNamespaces(o.Name()); len(nss) > 0 {
		t.Errorf("namespaces left: %v", nss)
	}
	if p := procsMentioning(wd); len(p) > 0 {
		t.Errorf("processes left: %q", p)
	}
	if _, err := os.Stat(wd); err == nil {
		t.Errorf("work dir %s left", wd)
	}
	if err := o.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func labNamespacesMust(t *testing.T, name string) []string {
	t.Helper()
	nss, err := labNamespaces(name)
	if err != nil || len(nss) == 0 {
		t.Fatalf("lab namespaces of %s: %v %v", name, nss, err)
	}
	return nss
}
