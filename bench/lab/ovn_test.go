package lab

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
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
	ex, err := o.UDPRequestResponseVia("ext", a.ExtIP, fip.Role, netip.AddrPortFrom(fip.IP, 7200), netip.AddrPortFrom(o.Plan.FloatingIP, 7200), 20, time.Second)
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
