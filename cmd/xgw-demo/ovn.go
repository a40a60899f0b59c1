package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// runOVN is `make demo-ovn`: a real OVN 23.03 lab (northd, NB/SB, two
// hypervisors with ovn-controller, topology by ovn-nbctl) with xgw in OVN
// mode as gateway chassis gateway01 — or, with baseline, a real
// ovn-controller in its place — real traffic through it, a NAT rule added
// and removed live, and teardown (also on Ctrl-C).
func runOVN(bin string, seconds int, baseline bool) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kind, who := lab.GatewayXGW, "xgw (OVN mode)"
	if baseline {
		kind, who = lab.GatewayOVN, "a real ovn-controller (baseline)"
	}
	step("bringing up the OVN lab: ovn-northd + NB/SB, hv1 and hv2 (OVS + ovn-controller), gateway01 = %s", who)
	t0 := time.Now()
	o, err := lab.UpOVN(ctx, lab.OVNOptions{Gateway: kind, DeferGateway: true})
	if err != nil {
		return fmt.Errorf("OVN lab: %w", err)
	}
	defer func() {
		step("tearing down OVN lab %s", o.Name())
		if derr := o.Down(); derr != nil && err == nil {
			err = derr
		}
	}()
	a, p := o.Config(), o.Plan
	fmt.Printf("OVN lab %s up in %v\n", a.Name, time.Since(t0).Round(time.Millisecond))
	for _, vm := range p.VMs {
		fmt.Printf("  %s %s on %s (ns %s)\n", vm.Role, vm.IP, vm.Chassis, o.NS(vm.Role))
	}
	fmt.Printf("  gateway01 in ns %s (encap %s), ext host %s in ns %s; SNAT %s, floating IP %s -> %s\n",
		o.NS("gw"), a.VTEPIP, a.ExtIP, o.NS("ext"), a.SNATIP, p.FloatingIP, p.FIPVM)
	nb, _ := o.NBCtl(ctx, "show")
	step("ovn-nbctl show (made by ovn-nbctl only)")
	fmt.Println(nb)

	cli := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--control-socket", o.XGWSocket()}, args...)...).CombinedOutput()
		return string(out), err
	}
	if baseline {
		step("starting ovn-controller as %s in ns %s", lab.GatewayChassis, o.NS("gw"))
		if err := o.StartOVNGateway(ctx); err != nil {
			return err
		}
	} else {
		cfg := filepath.Join(a.WorkDir, "xgw.yaml")
		if err := o.WriteXGWConfig(cfg); err != nil {
			return err
		}
		y, _ := os.ReadFile(cfg)
		step("xgw's whole OVN-mode config (%s)", cfg)
		fmt.Print(string(y))
		step("starting xgw run --config %s in ns %s", cfg, o.NS("gw"))
		logPath := filepath.Join(a.WorkDir, "xgw.log")
		exited, stop, err := startXGW(o.Exec("gw", bin, "run", "--config", cfg), logPath)
		if err != nil {
			return err
		}
		defer stop()
		for i := 0; ; i++ {
			if _, err := cli("stats", "--json"); err == nil {
				break
			}
			select {
			case err := <-exited:
				log, _ := os.ReadFile(logPath)
				return fmt.Errorf("xgw exited: %v\n%s", err, log)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if i > 200 {
				return fmt.Errorf("xgw did not come up within 20s (log: %s)", logPath)
			}
		}
		if err := o.WaitPortChassis(ctx, "gr-join", lab.GatewayChassis, 20*time.Second); err != nil {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("xgw did not claim the gateway router: %v\n%s", err, lastLines(string(log), 30))
		}
	}
	fmt.Printf("%s registered and claimed the gateway router after %v\n", lab.GatewayChassis, time.Since(t0).Round(time.Millisecond))
	sb, _ := o.SBCtl(ctx, "show")
	step("ovn-sbctl show")
	fmt.Println(sb)

	var summary []string
	say := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		fmt.Println(line)
		summary = append(summary, line)
	}
	step("ping from every VM to %s", a.ExtIP)
	for _, vm := range p.VMs {
		o.Ping(ctx, vm.Role, a.ExtIP, 1) // next hops resolve
		n, _, _ := o.Ping(ctx, vm.Role, a.ExtIP, 3)
		say("ping %s (on %s) -> %s: %d/3 replies", vm.Role, vm.Chassis, a.ExtIP, n)
	}
	srv, err := o.StartIperfServer()
	if err != nil {
		return err
	}
	defer srv.Stop()
	for _, vm := range []string{"vm1", "vm2"} {
		for _, reverse := range []bool{false, true} {
			dir := vm + " -> ext"
			args := []string{"iperf3", "-c", a.ExtIP.String(), "-t", fmt.Sprint(seconds), "-J", "--get-server-output"}
			if reverse {
				dir, args = "ext -> "+vm+" (-R)", append(args, "-R")
			}
			step("iperf3 TCP %s for %ds", dir, seconds)
			out, err := o.ExecContext(ctx, vm, args...).Output()
			if err != nil {
				return fmt.Errorf("iperf3: %v", err)
			}
			mbps, peer := parseIperf(out)
			say("iperf3 TCP %-18s %8.1f Mbit/s   the server saw the client as %s", dir, mbps, peer)
		}
	}
	step("UDP request/response and one-way UDP from every VM")
	for i, vm := range p.VMs {
		ex, err := o.UDPRequestResponse(vm.Role, vm.IP, "ext", netip.AddrPortFrom(a.ExtIP, uint16(7000+i)), 100, 500*time.Millisecond)
		if err != nil {
			return err
		}
		say("UDP request/response %s (on %s): %v", vm.Role, vm.Chassis, ex)
		ow, err := o.UDPOneWay(vm.Role, vm.IP, 40000+i, "ext", netip.AddrPortFrom(a.ExtIP, uint16(9000+i)), 1000, 3*time.Second)
		if err != nil {
			return err
		}
		say("UDP one-way %s (on %s): %d of %d datagrams arrived, from %v", vm.Role, vm.Chassis, ow.Answered, ow.Sent, ow.SeenFrom)
	}
	step("the ext host reaches %s at its floating IP %s", p.FIPVM, p.FloatingIP)
	fip, _ := p.VM(p.FIPVM)
	ex, err := o.UDPRequestResponseVia("ext", netip.AddrPortFrom(a.ExtIP, 0), fip.Role, netip.AddrPortFrom(fip.IP, 7100),
		netip.AddrPortFrom(p.FloatingIP, 7100), 20, 500*time.Millisecond)
	if err != nil {
		return err
	}
	say("UDP ext -> %s (%s): %v", p.FloatingIP, p.FIPVM, ex)

	newIP := netip.MustParseAddr("203.0.113.30")
	v2, _ := p.VM("vm2")
	step("ovn-nbctl lr-nat-add %s dnat_and_snat %s %s (while the gateway runs)", lab.OVNGatewayRouter, newIP, v2.IP)
	t1 := time.Now()
	if _, err := o.NBCtl(ctx, "lr-nat-add", lab.OVNGatewayRouter, "dnat_and_snat", newIP.String(), v2.IP.String()); err != nil {
		return err
	}
	live := false
	for time.Since(t1) < 10*time.Second {
		ex, err := o.UDPRequestResponseVia("ext", netip.AddrPortFrom(a.ExtIP, 0), "vm2", netip.AddrPortFrom(v2.IP, 7200),
			netip.AddrPortFrom(newIP, 7200), 1, 100*time.Millisecond)
		if err == nil && ex.Answered == 1 {
			live = true
			break
		}
	}
	if live {
		say("new floating IP %s answered %v after lr-nat-add", newIP, time.Since(t1).Round(time.Millisecond))
	} else {
		say("new floating IP %s NOT live 10s after lr-nat-add", newIP)
	}
	if _, err := o.NBCtl(ctx, "lr-nat-del", lab.OVNGatewayRouter, "dnat_and_snat", newIP.String()); err != nil {
		return err
	}
	if !baseline {
		step("xgw show")
		out, _ := cli("show")
		fmt.Print(out)
		step("xgw stats")
		out, _ = cli("stats")
		fmt.Print(out)
	}
	step("summary (gateway01 = %s)", who)
	for _, s := range summary {
		fmt.Println(s)
	}
	if !baseline {
		if js, err := cli("stats", "--json"); err == nil {
			hits, sw := fastPathShare([]byte(js))
			fmt.Printf("XDP fast path: %d packets, software pipeline: %d (%.1f%% offloaded)\n",
				hits, sw, 100*float64(hits)/float64(max(1, hits+sw)))
		}
	}
	return nil
}
