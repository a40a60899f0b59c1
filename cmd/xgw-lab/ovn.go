package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// ovnUp is `xgw-lab ovn-up`: the OVN lab (bench/lab/ovn.go), left up.
func ovnUp(args []string) error {
	fs := flag.NewFlagSet("ovn-up", flag.ExitOnError)
	name := fs.String("name", "", "lab name (namespaces xgwlab-NAME-*); random if empty")
	baseline := fs.Bool("baseline", false, "run a real ovn-controller as gateway01 in ns gw (instead of leaving ns gw to xgw)")
	configOut := fs.String("config-out", "", "write xgw's OVN-mode config for the lab here")
	wait := fs.Bool("wait", false, "stay in the foreground; tear the lab down on Ctrl-C")
	verbose := fs.Bool("v", false, "print every command")
	fs.Parse(args)
	opts := lab.OVNOptions{Name: *name}
	if *baseline {
		opts.Gateway = lab.GatewayOVN
	}
	if *verbose {
		opts.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	t0 := time.Now()
	o, err := lab.UpOVN(context.Background(), opts)
	if err != nil {
		return err
	}
	a := o.Config()
	fmt.Printf("OVN lab %s up in %v (workdir %s)\n", a.Name, time.Since(t0).Round(time.Millisecond), a.WorkDir)
	fmt.Printf("  NB %s  SB %s  (ovn-nbctl/ovn-sbctl: xgw-lab exec %s ovn ovn-nbctl show)\n", o.Plan.NBRemote, o.Plan.SBRemote, a.Name)
	for _, vm := range o.Plan.VMs {
		fmt.Printf("  %-4s %-14s on %s  (ns %s)\n", vm.Role, vm.IP, vm.Chassis, o.NS(vm.Role))
	}
	gw := "left to xgw: xgw-lab exec " + a.Name + " gw xgw run --config FILE"
	if *baseline {
		gw = "a real ovn-controller"
	}
	fmt.Printf("  gateway01 in ns %s: %s\n  ext host %s in ns %s; SNAT %s; floating IP %s -> %s\n",
		o.NS("gw"), gw, a.ExtIP, o.NS("ext"), a.SNATIP, o.Plan.FloatingIP, o.Plan.FIPVM)
	if *configOut != "" {
		if err := o.WriteXGWConfig(*configOut); err != nil {
			o.Down()
			return err
		}
		fmt.Printf("  xgw config: %s\n", *configOut)
	}
	if !*wait {
		return nil
	}
	fmt.Println("waiting; Ctrl-C tears the lab down")
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	<-ch
	select {}
}

// ovnScale is `xgw-lab ovn-scale`: the scale fixture (FillScale)
// and the measurement of xgw on it (MeasureXGWScale).
func ovnScale(args []string) error {
	fs := flag.NewFlagSet("ovn-scale", flag.ExitOnError)
	xgw := fs.String("xgw", "bin/xgw", "the xgw binary; empty: fill only, and leave the lab up")
	routers := fs.Int("routers", 1000, "gateway routers bound to gateway01")
	vifs := fs.Int("vifs-per-router", 20, "VIFs per router (routers x this = VIFs)")
	chassis := fs.Int("chassis", 50, "hypervisor chassis the VIFs are spread over")
	samples := fs.Int("samples", 5, "lr-nat-add/del latency samples")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on each wait")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(f string, a ...any) { fmt.Printf(time.Now().Format("15:04:05 ")+f+"\n", a...) }
	o, err := lab.UpOVN(ctx, lab.OVNOptions{Gateway: lab.GatewayXGW, NoTopology: true})
	if err != nil {
		return err
	}
	keep := *xgw == ""
	defer func() {
		if !keep {
			o.Down()
		}
	}()
	s := lab.ScaleOptions{Routers: *routers, VIFsPerRouter: *vifs, Chassis: *chassis, NorthdTimeout: *timeout}
	logf("OVN lab %s up; filling NB/SB: %d routers, %d VIFs over %d chassis", o.Name(), *routers, *routers**vifs, *chassis)
	f, err := o.FillScale(ctx, s)
	if err != nil {
		return err
	}
	logf("NB transaction %v, SB chassis %v, northd %v, SB VIF binding %v; SB: %d port bindings, %d logical flows",
		f.NBFill.Round(time.Millisecond), f.SBChassis.Round(time.Millisecond), f.Northd.Round(time.Millisecond),
		f.SBBind.Round(time.Millisecond), f.PortBindings, f.LogicalFlows)
	if keep {
		logf("lab %s left up (xgw-lab down %s)", o.Name(), o.Name())
		return nil
	}
	bin, err := filepath.Abs(*xgw)
	if err != nil {
		return err
	}
	m, x, err := o.MeasureXGWScale(ctx, bin, s, *samples, *timeout, logf)
	if x != nil {
		defer x.Stop()
	}
	if err != nil {
		if x != nil {
			b, _ := os.ReadFile(x.LogPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			fmt.Printf("xgw log (tail):\n%s\n", b)
		}
		return err
	}
	fmt.Printf("\n| what | value |\n|---|---|\n")
	fmt.Printf("| fixture | %d gateway routers on gateway01 (join switch, SNAT, default route each), %d VIFs over %d chassis |\n", f.Routers, f.VIFs, f.Chassis)
	fmt.Printf("| SB after northd | %d port bindings, %d logical flows (northd took %v) |\n", f.PortBindings, f.LogicalFlows, f.Northd.Round(time.Millisecond))
	fmt.Printf("| xgw start -> all %d gateway port bindings claimed | %v |\n", 4*f.Routers, m.Claimed.Round(time.Millisecond))
	fmt.Printf("| xgw start -> `xgw show` lists the last router's SNAT | %v |\n", m.Shown.Round(time.Millisecond))
	fmt.Printf("| xgw RSS after sync (peak) | %.1f MiB (%.1f MiB) |\n", float64(m.RSSKiB)/1024, float64(m.HWMKiB)/1024)
	fmt.Printf("| lr-nat-add -> rule in `xgw show`, median (max) of %d | %v (%v) |\n", len(m.NATAdd), lab.Median(m.NATAdd).Round(time.Millisecond), maxDur(m.NATAdd).Round(time.Millisecond))
	fmt.Printf("| lr-nat-del -> rule gone, median (max) | %v (%v) |\n", lab.Median(m.NATDel).Round(time.Millisecond), maxDur(m.NATDel).Round(time.Millisecond))
	fmt.Printf("| one `xgw show` (poll granularity) | %v |\n", m.ShowTook.Round(time.Millisecond))
	return nil
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
