package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// ovnGateway is an OVN lab (bench/lab, GatewayXGW) with xgw running in OVN
// mode as chassis gateway01.
type ovnGateway struct {
	*gateway
	ovn *lab.OVN
	// real: gateway01 is a real ovn-controller (the baseline), not xgw.
	real bool
}

// startOVNLab brings an OVN lab up without xgw (torn down when the test
// ends) and returns it with its gateway, not started.
func startOVNLab(t *testing.T, kind lab.GatewayKind) *ovnGateway {
	t.Helper()
	return startOVNLabShape(t, kind, false)
}

// startOVNLabShape is startOVNLab with the lab's DistributedGateway shape
// when dgp is set.
func startOVNLabShape(t *testing.T, kind lab.GatewayKind, dgp bool) *ovnGateway {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := lab.UpOVN(ctx, lab.OVNOptions{Gateway: kind, DeferGateway: true, Log: t.Logf, KeepWorkDir: true, DistributedGateway: dgp})
	if err != nil {
		t.Fatalf("OVN lab up: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			sb, _ := o.SBCtl(dctx, "show")
			nb, _ := o.NBCtl(dctx, "show")
			dcancel()
			t.Logf("ovn-sbctl show:\n%s\novn-nbctl show:\n%s\nlogs kept in %s", sb, nb, o.Config().WorkDir)
		}
		if err := o.Down(); err != nil {
			t.Errorf("OVN lab down: %v", err)
		}
		if !t.Failed() {
			os.RemoveAll(o.Config().WorkDir)
		}
	})
	g := &gateway{t: t, lab: o.Lab, addrs: o.Config(), logs: &syncBuffer{}}
	g.config = filepath.Join(g.addrs.WorkDir, "xgw.yaml")
	g.socket = o.XGWSocket()
	if err := o.WriteXGWConfig(g.config); err != nil {
		t.Fatal(err)
	}
	return &ovnGateway{gateway: g, ovn: o, real: kind == lab.GatewayOVN}
}

// startGateway01 starts xgw in OVN mode (or, for the baseline, the real
// ovn-controller) and waits until it has claimed the gateway ports
// (Port_Binding.chassis = gateway01): the gateway router's, or the
// distributed gateway port's chassisredirect binding.
func (g *ovnGateway) startGateway01(ctx context.Context) {
	t := g.t
	t0 := time.Now()
	if g.real {
		if err := g.ovn.StartOVNGateway(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		g.start()
		t.Cleanup(func() {
			g.stop()
			if t.Failed() {
				t.Logf("xgw log:\n%s", g.logs.String())
			}
		})
	}
	for _, p := range g.ovn.GatewayPorts() {
		if err := g.ovn.WaitPortChassis(ctx, p, lab.GatewayChassis, 20*time.Second); err != nil {
			t.Fatalf("xgw did not claim the gateway router: %v\n%s", err, g.logs.String())
		}
	}
	t.Logf("gateway01 up and claimed in %v", time.Since(t0).Round(time.Millisecond))
}

// settledLflows waits for northd to process NB and returns the normalised
// logical flows.
func (g *ovnGateway) settledLflows(ctx context.Context) string {
	g.t.Helper()
	if _, err := g.ovn.NBCtl(ctx, "--wait=sb", "sync"); err != nil {
		g.t.Fatal(err)
	}
	f, err := g.ovn.LogicalFlows(ctx)
	if err != nil {
		g.t.Fatal(err)
	}
	return f
}

// exchange runs a UDP request/response from vm (client port sport, 0 for
// any) to the ext host and returns it.
func (g *ovnGateway) exchange(vm string, sport, dport, n int, per time.Duration) lab.Exchange {
	g.t.Helper()
	v, _ := g.ovn.Plan.VM(vm)
	srv := netip.AddrPortFrom(g.addrs.ExtIP, uint16(dport))
	ex, err := g.ovn.UDPRequestResponseVia(vm, netip.AddrPortFrom(v.IP, uint16(sport)), "ext", srv, srv, n, per)
	if err != nil {
		g.t.Fatal(err)
	}
	return ex
}

// inbound runs a UDP request/response from the ext host to dial (a NAT
// address) served by vm.
func (g *ovnGateway) inbound(vm string, dial netip.Addr, port, n int, per time.Duration) lab.Exchange {
	g.t.Helper()
	v, _ := g.ovn.Plan.VM(vm)
	ex, err := g.ovn.UDPRequestResponseVia("ext", netip.AddrPortFrom(g.addrs.ExtIP, 0), vm,
		netip.AddrPortFrom(v.IP, uint16(port)), netip.AddrPortFrom(dial, uint16(port)), n, per)
	if err != nil {
		g.t.Fatal(err)
	}
	return ex
}

// until retries probe (each try bounded by itself) until it reports true or
// d passes; it returns how long it took and whether it succeeded.
func until(d time.Duration, probe func() bool) (time.Duration, bool) {
	t0 := time.Now()
	for {
		if probe() {
			return time.Since(t0), true
		}
		if time.Since(t0) > d {
			return time.Since(t0), false
		}
	}
}

func seenOnly(ex lab.Exchange, a netip.Addr) bool {
	return len(ex.SeenFrom) == 1 && ex.SeenFrom[0] == a
}

// iperfFrom runs iperf3 from vm to the ext host (reverse: ext sends) and
// returns Mbit/s received.
func (g *ovnGateway) iperfFrom(t *testing.T, vm string, reverse bool) float64 {
	t.Helper()
	args := []string{"iperf3", "-c", g.addrs.ExtIP.String(), "-t", "2", "-J"}
	if reverse {
		args = append(args, "-R")
	}
	out, err := g.run(vm, args...)
	if err != nil {
		t.Fatalf("%s: %v: %v\n%s", vm, args, err, out)
	}
	i := strings.Index(out, `"sum_received"`)
	if i < 0 {
		t.Fatalf("%s: iperf3 printed no sum_received:\n%s", vm, out)
	}
	var bps float64
	j := strings.Index(out[i:], `"bits_per_second":`)
	if j < 0 {
		t.Fatalf("iperf3 json:\n%s", out)
	}
	fmt.Sscanf(strings.TrimLeft(out[i+j+len(`"bits_per_second":`):], " \t"), "%g", &bps)
	return bps / 1e6
}

// TestOVN runs the OVN issue's end-to-end checks in order against one OVN
// lab (real northd, NB/SB, two hypervisors with ovn-controller) and xgw in
// OVN mode as gateway01. Subtests build on each other (the VM move and the
// SB outage come last).
func TestOVN(t *testing.T) { ovnSuite(t, lab.GatewayXGW) }

// TestOVNBaseline runs the same checks with a real ovn-controller as
// gateway01 (xgw's counters aside): the baseline xgw is compared to, and
// the proof that the checks themselves hold on real OVN.
func TestOVNBaseline(t *testing.T) { ovnSuite(t, lab.GatewayOVN) }

func ovnSuite(t *testing.T, kind lab.GatewayKind) {
	g := startOVNLab(t, kind)
	o, a := g.ovn, g.addrs
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	without := g.settledLflows(ctx)
	g.startGateway01(ctx)
	plan := o.Plan

	t.Run("lflows-unchanged", func(t *testing.T) {
		// What hypervisors compute their OpenFlow from must not change
		// because xgw registered: a chassis without ovn-controller's
		// feature flags makes northd downgrade everyone's flows
		// (TestOVNBaselineLflowsAndMove in bench/lab shows it does).
		with := g.settledLflows(ctx)
		if with != without {
			ra, rb := lab.DiffLines(without, with, 20)
			t.Fatalf("northd's logical flows changed when xgw registered as %s:\nonly without xgw: %q\nonly with xgw: %q",
				lab.GatewayChassis, ra, rb)
		}
	})

	t.Run("ping", func(t *testing.T) {
		for _, vm := range plan.VMs {
			took, ok := until(15*time.Second, func() bool { n, _, _ := o.Ping(ctx, vm.Role, a.ExtIP, 2); return n == 2 })
			if !ok {
				_, out, _ := o.Ping(ctx, vm.Role, a.ExtIP, 3)
				t.Errorf("%s on %s cannot ping %s through xgw (tried %v):\n%s", vm.Role, vm.Chassis, a.ExtIP, took, out)
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

	t.Run("udp-one-way", func(t *testing.T) {
		// The seed's traffic: one-way flows, never answered.
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

	t.Run("iperf3-offloaded", func(t *testing.T) {
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

	t.Run("lr-nat-add-del-live", func(t *testing.T) {
		// A new floating IP for vm2 (on hv2), added and removed in NB
		// while xgw runs; each must take effect within 2 s.
		newIP := netip.MustParseAddr("203.0.113.30")
		v2, _ := plan.VM("vm2")
		if ex := g.inbound("vm2", newIP, 7300, 1, 300*time.Millisecond); ex.Answered != 0 {
			t.Fatalf("%s answers before the rule exists: %v", newIP, ex)
		}
		t0 := time.Now()
		if _, err := o.NBCtl(ctx, "lr-nat-add", lab.OVNGatewayRouter, "dnat_and_snat", newIP.String(), v2.IP.String()); err != nil {
			t.Fatal(err)
		}
		took, ok := until(10*time.Second, func() bool { return g.inbound("vm2", newIP, 7300, 1, 100*time.Millisecond).Answered == 1 })
		t.Logf("lr-nat-add dnat_and_snat %s -> %s: live after %v", newIP, v2.IP, took.Round(time.Millisecond))
		if !ok || time.Since(t0) > 2*time.Second {
			out, _ := g.xgw("show")
			t.Errorf("new rule live after %v (ok=%v), want within 2s; xgw show:\n%s", took, ok, out)
		}
		if ex := g.exchange("vm2", 0, 7301, 5, time.Second); !seenOnly(ex, newIP) {
			t.Errorf("vm2 after lr-nat-add: %v, want ext to see %s", ex, newIP)
		}
		t1 := time.Now()
		if _, err := o.NBCtl(ctx, "lr-nat-del", lab.OVNGatewayRouter, "dnat_and_snat", newIP.String()); err != nil {
			t.Fatal(err)
		}
		took, ok = until(10*time.Second, func() bool {
			return g.inbound("vm2", newIP, 7302, 1, 100*time.Millisecond).Answered == 0 && seenOnly(g.exchange("vm2", 0, 7303, 1, 300*time.Millisecond), a.SNATIP)
		})
		t.Logf("lr-nat-del %s: gone after %v", newIP, took.Round(time.Millisecond))
		if !ok || time.Since(t1) > 2*time.Second {
			t.Errorf("rule removed after %v (ok=%v), want within 2s", took, ok)
		}
	})

	t.Run("vm-moves-to-other-hypervisor", func(t *testing.T) {
		// One connection (fixed ports) before and after vm1's port moves
		// from hv1 to hv2: replies must follow it to hv2 (hv1 drops what
		// arrives for a port it no longer has).
		if ex := g.exchange("vm1", 42001, 7400, 10, time.Second); ex.Answered < 9 {
			t.Fatalf("vm1 on hv1 before the move: %v", ex)
		}
		t0 := time.Now()
		if err := o.MoveVM(ctx, "vm1", "hv2"); err != nil {
			t.Fatal(err)
		}
		took, ok := until(10*time.Second, func() bool { return g.exchange("vm1", 42001, 7400, 1, 200*time.Millisecond).Answered == 1 })
		t.Logf("vm1 moved to hv2: replies again after %v (%v since the move began)", took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		if !ok {
			out, _ := g.xgw("show")
			t.Fatalf("vm1 on hv2 gets no replies after %v; xgw show:\n%s", took, out)
		}
		if ex := g.exchange("vm1", 0, 7401, 10, time.Second); ex.Answered < 9 || !seenOnly(ex, a.SNATIP) {
			t.Errorf("a new connection from vm1 on hv2: %v", ex)
		}
	})

	t.Run("sb-outage", func(t *testing.T) {
		// SB down for 10 s: the established connection keeps flowing
		// (xgw forwards with its last topology); meanwhile vm1 moves back
		// to hv1, which OVN can only record once SB is back; xgw must
		// reconnect and follow.
		if ex := g.exchange("vm2", 43001, 7500, 5, time.Second); ex.Answered < 5 {
			t.Fatalf("vm2 before the outage: %v", ex)
		}
		if err := o.StopSB(ctx); err != nil {
			t.Fatal(err)
		}
		down := time.Now()
		restarted := false
		defer func() {
			if !restarted {
				o.StartSB(context.Background())
			}
		}()
		var during []lab.Exchange
		moved := false
		pace := time.NewTicker(50 * time.Millisecond) // traffic rate, not a wait
		defer pace.Stop()
		for ; time.Since(down) < 10*time.Second; <-pace.C {
			during = append(during, g.exchange("vm2", 43001, 7500, 5, 400*time.Millisecond))
			if !moved && time.Since(down) > 2*time.Second {
				// Unplug from hv2 and plug into hv1 (the binding
				// waits for SB).
				if err := o.MoveVMNoWait(ctx, "vm1", "hv1"); err != nil {
					t.Fatal(err)
				}
				moved = true
			}
		}
		if !g.real {
			// xgw says so (xgw show, in the spirit of ovn-sbctl show).
			out, _ := g.xgw("show")
			if !strings.Contains(out, "SB: DISCONNECTED") {
				t.Errorf("xgw show during the SB outage does not say SB: DISCONNECTED:\n%s", firstLines(out, 6))
			}
		}
		var sent, got int
		for _, ex := range during {
			sent += ex.Sent
			got += ex.Answered
		}
		t.Logf("during the 10 s SB outage: %d/%d requests answered on an established connection", got, sent)
		if got < sent*9/10 {
			t.Errorf("established traffic during the SB outage: %d/%d answered", got, sent)
		}
		if err := o.StartSB(ctx); err != nil {
			t.Fatal(err)
		}
		restarted = true
		up := time.Now()
		if !g.real {
			took, ok := until(20*time.Second, func() bool { out, _ := g.xgw("show"); return strings.Contains(out, "SB: connected") })
			t.Logf("xgw show says SB: connected %v after the SB restart", took.Round(time.Millisecond))
			if !ok {
				out, _ := g.xgw("show")
				t.Errorf("xgw did not reconnect to SB within %v:\n%s", took, firstLines(out, 6))
			}
		}
		if err := o.WaitPortChassis(ctx, "vm1", "hv1", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		took, ok := until(20*time.Second, func() bool { return g.exchange("vm1", 0, 7501, 1, 200*time.Millisecond).Answered == 1 })
		t.Logf("SB back: vm1 (moved to hv1 during the outage) answered %v after SB restart", time.Since(up).Round(time.Millisecond))
		if !ok {
			out, _ := g.xgw("show")
			t.Fatalf("after SB came back, vm1 on hv1 got no replies for %v; xgw show:\n%s", took, out)
		}
		if ex := g.exchange("vm2", 43001, 7500, 5, time.Second); ex.Answered < 5 {
			t.Errorf("vm2's connection after the outage: %v", ex)
		}
	})
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}
