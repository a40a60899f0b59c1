// Command xgw-lab builds, inspects and removes xgw's network-namespace lab
// (package bench/lab; see bench/lab/README.md).
//
//	xgw-lab up [--name N] [--vms N] [--config-out FILE] [--iperf] [--udp-sink PORT] [--udp-echo PORT] [--wait]
//	xgw-lab down NAME... | --all
//	xgw-lab status
//	xgw-lab exec NAME ROLE CMD [ARG...]   (ROLE: vm, vm2.., hv, gw, ext; ovs-* tools reach the lab's OVS)
//	xgw-lab flows NAME                    (br-int's OpenFlow rules as installed)
//	xgw-lab udp-sink --listen ADDR [--stats FILE]
//	xgw-lab udp-echo --listen ADDR
//	xgw-lab ovn-up [--name N] [--baseline] [--config-out FILE] [--wait]   (the OVN lab, ovn.go)
//	xgw-lab ovn-scale [--xgw BIN] [--routers 1000] [--vifs-per-router 20] [--chassis 50] [--samples 5]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  xgw-lab up [--name N] [--vms N] [--workdir DIR] [--config-out FILE] [--iperf] [--udp-sink PORT] [--udp-echo PORT] [--wait]
  xgw-lab down NAME... | --all
  xgw-lab status
  xgw-lab exec NAME ROLE CMD [ARG...]
  xgw-lab flows NAME
  xgw-lab udp-sink --listen ADDR [--stats FILE]
  xgw-lab udp-echo --listen ADDR
  xgw-lab ovn-up [--name N] [--baseline] [--config-out FILE] [--wait]
  xgw-lab ovn-scale [--xgw BIN] [--routers N] [--vifs-per-router N] [--chassis N] [--samples N]
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "up":
		err = up(args)
	case "down":
		err = down(args)
	case "status":
		err = status()
	case "exec":
		err = execIn(args)
	case "flows":
		if len(args) != 1 {
			usage()
		}
		err = execIn([]string{args[0], "hv", "ovs-ofctl", "dump-flows", "br-int"})
	case "udp-sink", "udp-echo":
		err = serve(cmd, args)
	case "ovn-up":
		err = ovnUp(args)
	case "ovn-scale":
		err = ovnScale(args)
	default:
		usage()
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "xgw-lab:", err)
		os.Exit(1)
	}
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	name := fs.String("name", "", "lab name (namespaces xgwlab-NAME-*); random if empty")
	vms := fs.Int("vms", 1, "number of VM namespaces")
	dual := fs.Bool("dual-stack", false, "add IPv6 (NAT66, a routed prefix on VM vmr, dnat_and_snat for vm2)")
	u6 := fs.Bool("underlay6", false, "Geneve over IPv6 between hypervisor and gateway (implies --dual-stack)")
	workDir := fs.String("workdir", "", "work dir (default $TMPDIR/xgwlab/NAME)")
	configOut := fs.String("config-out", "", "write the lab's xgw config here")
	iperf := fs.Bool("iperf", false, "start iperf3 -s in ns ext")
	sink := fs.Int("udp-sink", 0, "start a UDP sink on this port in ns ext")
	echo := fs.Int("udp-echo", 0, "start a UDP echo on this port in ns ext")
	wait := fs.Bool("wait", false, "stay in the foreground; tear the lab down on Ctrl-C")
	verbose := fs.Bool("v", false, "print every command")
	fs.Parse(args)
	opts := lab.Options{Name: *name, VMs: *vms, WorkDir: *workDir, DualStack: *dual, Underlay6: *u6}
	if *verbose {
		opts.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	t0 := time.Now()
	l, err := lab.Up(context.Background(), opts)
	if err != nil {
		return err
	}
	took := time.Since(t0)
	fail := func(err error) error { l.Down(); return err }
	if *configOut != "" {
		if err := l.WriteXGWConfig(*configOut); err != nil {
			return fail(err)
		}
	}
	var servers []string
	if *iperf {
		s, err := l.StartIperfServer()
		if err != nil {
			return fail(err)
		}
		servers = append(servers, "iperf3 "+s.Addr.String())
	}
	if *sink != 0 {
		s, err := l.StartUDPSink(*sink)
		if err != nil {
			return fail(err)
		}
		servers = append(servers, "udp-sink "+s.Addr.String())
	}
	if *echo != 0 {
		s, err := l.StartUDPEcho(*echo)
		if err != nil {
			return fail(err)
		}
		servers = append(servers, "udp-echo "+s.Addr.String())
	}
	printLab(l, took, servers, *configOut)
	if !*wait {
		return nil
	}
	fmt.Println("waiting; Ctrl-C tears the lab down")
	// The lab package's own handler tears the lab down on the signal and
	// then lets it terminate the process; this just blocks until then.
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	<-ch
	select {} // the lab package exits the process when it is done
}

func printLab(l *lab.Lab, took time.Duration, servers []string, configOut string) {
	c := l.Config()
	fmt.Printf("lab %s up in %v (workdir %s)\n", c.Name, took.Round(time.Millisecond), c.WorkDir)
	for _, vm := range c.VMs {
		fmt.Printf("  %-4s %-22s %s %s/%d mac %s (br-int port %s)\n", vm.Role, vm.NS, vm.Iface, vm.IP, c.VMPrefix.Bits(), vm.MAC, vm.HVPort)
	}
	fmt.Printf("  hv   %-22s OVS (OVS_RUNDIR=%s), br-phy %s mac %s, geneve %s -> %s\n", l.NS("hv"), c.OVSRunDir, c.HVUnderlayIP, c.HVUnderlayMAC, lab.GenevePortName, c.VTEPIP)
	fmt.Printf("  gw   %-22s %s %s mac %s; %s %s mac %s; ip_forward=0\n", l.NS("gw"), c.GWUnderlay, c.VTEPIP, c.GWUnderlayMAC, c.GWExternal, c.GWExternalIP, c.GWExternalMAC)
	fmt.Printf("  ext  %-22s %s %s mac %s; route %s via %s\n", l.NS("ext"), c.ExtIface, c.ExtIP, c.ExtMAC, c.SNATIP, c.GWExternalIP.Addr())
	for _, s := range servers {
		fmt.Printf("  server: %s (ns ext)\n", s)
	}
	if configOut != "" {
		fmt.Printf("  xgw config: %s\n", configOut)
	}
	fmt.Printf("poke: xgw-lab flows %s | xgw-lab exec %s gw tcpdump -ni gw-u | xgw-lab down %s\n", c.Name, c.Name, c.Name)
}

func down(args []string) error {
	var names []string
	if len(args) == 1 && args[0] == "--all" {
		st, err := lab.List()
		if err != nil {
			return err
		}
		for _, s := range st {
			names = append(names, s.Name)
		}
	} else if len(args) > 0 {
		names = args
	} else {
		usage()
	}
	var first error
	for _, n := range names {
		if l, err := lab.Attach(n, ""); err == nil {
			err = l.Down()
			if err != nil && first == nil {
				first = err
			}
		} else if err := lab.DownByName(n); err != nil && first == nil {
			first = err
		}
		fmt.Println("down", n)
	}
	return first
}

func status() error {
	st, err := lab.List()
	if err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Println("no labs")
	}
	for _, s := range st {
		owner := "unknown"
		if s.OwnerPID != 0 {
			owner = fmt.Sprintf("pid %d (%s)", s.OwnerPID, map[bool]string{true: "alive", false: "exited"}[s.OwnerAlive])
		}
		fmt.Printf("%s: %d processes, namespaces %s, built by %s, workdir %s\n",
			s.Name, s.Processes, strings.Join(s.Namespaces, " "), owner, s.WorkDir)
	}
	return nil
}

func execIn(args []string) error {
	if len(args) < 3 {
		usage()
	}
	l, err := lab.Attach(args[0], "")
	if err != nil {
		return err
	}
	if l.NS(args[1]) == "" {
		return fmt.Errorf("no role %q in lab %s", args[1], args[0])
	}
	cmd := l.Exec(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

func serve(kind string, args []string) error {
	fs := flag.NewFlagSet(kind, flag.ExitOnError)
	listen := fs.String("listen", "", "address:port to listen on (required)")
	stats := fs.String("stats", "", "udp-sink: write counts here on SIGUSR1 and exit")
	fs.Parse(args)
	if *listen == "" {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if kind == "udp-sink" {
		return lab.ServeUDPSink(ctx, *listen, *stats)
	}
	return lab.ServeUDPEcho(ctx, *listen)
}
