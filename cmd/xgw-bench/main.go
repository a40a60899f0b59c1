// Command xgw-bench runs xgw side by side with OVS (AF_XDP), Linux
// (nftables SNAT) and the raw XDP redirect ceiling on the same scenarios in
// one run, and writes the results (JSON, markdown table, PNG plots). See
// bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/xgw-dev/xgw/bench/harness"
	"github.com/xgw-dev/xgw/bench/report"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xgw-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		o         harness.Options
		scenarios = flag.String("scenarios", strings.Join(harness.ScenarioNames, ","), "comma-separated scenarios: "+strings.Join(harness.ScenarioNames, ", ")+"; opt-in: "+harness.ScenarioOneway6o6+" (IPv6 overlay over the IPv6 underlay)")
		systems   = flag.String("systems", strings.Join(harness.SystemNames, ","), "comma-separated systems: "+strings.Join(harness.SystemNames, ", "))
		duration  = flag.Duration("duration", 10*time.Second, "length of each measurement")
		out       = flag.String("out", "bench/results", "directory for <date>-<commit>.json, latest.md and the PNG plots")
		quick     = flag.Bool("quick", false, "the seed scenario, fastpath and iperf3 TCP on every system, 3 s each (under 3 minutes)")
		real      harness.RealNICs
		vtep      = flag.String("vtep", "192.0.2.1", "real NICs: the gateway's VTEP address")
		chassis   = flag.String("chassis-ip", "192.0.2.2", "real NICs: the generator's (chassis') underlay address")
		extIP     = flag.String("ext-ip", "198.51.100.2", "real NICs: the sink's address")
		snatIP    = flag.String("snat-ip", "203.0.113.10", "real NICs: the SNAT address")
		vmIP      = flag.String("vm-ip", "10.199.100.10", "real NICs: the inner source address")
		ulNet     = flag.String("underlay-net", "192.0.2.0/24", "real NICs: the underlay prefix")
		extNet    = flag.String("external-addr", "198.51.100.1/24", "real NICs: the gateway's external address/prefix")
	)
	flag.IntVar(&o.Flows, "flows", 5000, "distinct UDP flows of the generator (the seed: 5000)")
	flag.IntVar(&o.Size, "size", 64, "inner frame size in bytes (what the VM sends; Geneve adds 58)")
	flag.Float64Var(&o.Rate, "rate", 0, "one-way flood rate in packets/s (0 = as fast as BPF_PROG_RUN goes)")
	flag.Float64Var(&o.RRRate, "rr-rate", 50000, "request rate of udp-rr in packets/s")
	flag.IntVar(&o.Repeat, "repeat", 1, "run --repeat-scenarios this many times (in rounds over all systems) and report each system's median run")
	repeatScs := flag.String("repeat-scenarios", "udp-oneway,fastpath,"+harness.ScenarioOneway6+","+harness.ScenarioOneway6o6, "scenarios that --repeat repeats")
	flag.IntVar(&o.GenCPU, "gen-cpu", 0, "CPU for the generator thread (-1: no pinning)")
	flag.IntVar(&o.GatewayCPU, "gateway-cpu", 1, "CPU for the gateway's processes (-1: no pinning)")
	flag.IntVar(&o.CCConns, "cc", 10000, "concurrent connections to hold in tcp-cc")
	flag.IntVar(&o.CPSWorkers, "cps-workers", 32, "parallel connecting threads in tcp-cps and tcp-cc")
	flag.IntVar(&o.OffloadUDPPackets, "offload-udp-packets", 0, "xgw-offload: offload.udp_oneway_packets (0 = xgw's default)")
	flag.IntVar(&o.OffloadUDPMS, "offload-udp-ms", 0, "xgw-offload: offload.udp_oneway_ms (0 = xgw's default)")
	flag.StringVar(&o.XGWBin, "xgw", "bin/xgw", "the xgw binary")
	flag.StringVar(&o.Commit, "commit", "", "commit to name the results after (default: git rev-parse --short HEAD)")
	flag.StringVar(&real.Underlay, "underlay", "", "real NICs: the gateway's underlay interface (enables real-NIC mode)")
	flag.StringVar(&real.External, "external", "", "real NICs: the gateway's external interface")
	flag.StringVar(&real.GenIface, "gen-iface", "", "real NICs: the generator's interface, cabled to --underlay")
	flag.StringVar(&real.SinkIface, "sink-iface", "", "real NICs: the sink's interface, cabled to --external")
	flag.StringVar(&real.GWNetns, "gw-netns", "", "real NICs: namespace of the gateway's interfaces (default: root)")
	flag.StringVar(&real.GenNetns, "gen-netns", "", "real NICs: namespace of --gen-iface")
	flag.StringVar(&real.SinkNetns, "sink-netns", "", "real NICs: namespace of --sink-iface")
	flag.StringVar(&o.XGWConfig, "xgw-config", "", "real NICs: xgw config to start from (offload and control sections are overridden)")
	render := flag.String("render", "", "re-render latest.md and the plots in --out from a results JSON file, then exit (no lab, no root)")
	flag.Parse()

	if *render != "" {
		r, err := report.ReadJSON(*render)
		if err != nil {
			return err
		}
		files, err := harness.WriteOutputs(r, *out)
		for _, f := range files {
			fmt.Println("wrote", f)
		}
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (namespaces, XDP, BPF_PROG_RUN)")
	}
	o.Scenarios = splitList(*scenarios)
	o.Systems = splitList(*systems)
	o.Duration = *duration
	o.RepeatScenarios = splitList(*repeatScs)
	o.Quick = *quick
	if *quick {
		o.Scenarios = []string{"udp-oneway", "fastpath", "iperf3-tcp"}
		o.Duration = 3 * time.Second
		o.CCConns = min(o.CCConns, 2000)
	}
	if runtime.NumCPU() < 2 {
		o.GenCPU, o.GatewayCPU = -1, -1
	}
	if o.Commit == "" {
		o.Commit = gitCommit()
	}
	if real.Underlay != "" {
		if real.External == "" || real.GenIface == "" || real.SinkIface == "" {
			return fmt.Errorf("real NICs need --underlay, --external, --gen-iface and --sink-iface")
		}
		var err error
		for _, p := range []struct {
			s string
			d *netip.Addr
		}{{*vtep, &real.VTEP}, {*chassis, &real.ChassisIP}, {*extIP, &real.ExtIP}, {*snatIP, &real.SNATIP}, {*vmIP, &real.VMIP}} {
			if *p.d, err = netip.ParseAddr(p.s); err != nil {
				return err
			}
		}
		if real.UnderlayNet, err = netip.ParsePrefix(*ulNet); err != nil {
			return err
		}
		if real.ExternalNet, err = netip.ParsePrefix(*extNet); err != nil {
			return err
		}
		o.Real = &real
	}
	o.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := harness.Run(ctx, o)
	if err != nil && r == nil {
		return err
	}
	if r.Finished.IsZero() {
		r.Finished = time.Now()
	}
	files, werr := harness.WriteOutputs(r, *out)
	for _, f := range files {
		fmt.Fprintln(os.Stderr, "wrote", f)
	}
	if werr != nil {
		return werr
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func gitCommit() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(b))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "-dirty"
	}
	return c
}
