package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
	"github.com/xgw-dev/xgw/bench/report"
	"github.com/xgw-dev/xgw/bench/xdpload"
)

// ScenarioNames is every scenario in the order a full run uses.
// udp-oneway6 (the seed's scenario over IPv6, a dual-stack lab) is one of
// them; udp-oneway6o6 (over the IPv6 underlay) is opt-in.
var ScenarioNames = []string{"udp-oneway", ScenarioOneway6, "fastpath", "udp-rr", "iperf3-tcp", "iperf3-udp", "tcp-cps", "tcp-cc"}

// Options configure a benchmark run.
type Options struct {
	Scenarios []string
	Systems   []string
	Duration  time.Duration // per measurement
	Flows     int
	Size      int     // inner frame bytes
	Rate      float64 // one-way flood rate, pps; 0 = unlimited
	RRRate    float64 // request rate of udp-rr, pps
	Quick     bool
	// Repeat runs RepeatScenarios this many times (rounds over all systems,
	// so noise spreads over every system alike) and keeps each system's
	// median run by the scenario's primary metric.
	Repeat          int
	RepeatScenarios []string
	// GenCPU keeps the generator off the gateway's CPU
	// (SystemOptions.GatewayCPU; -1: no pinning).
	GenCPU     int
	CCConns    int
	CPSWorkers int
	SystemOptions
	XGWBin string
	Commit string
	// Real, when set, runs on real interfaces instead of the veth lab.
	Real *RealNICs
	// Progress receives one line per second per measurement.
	Progress io.Writer
}

// runCtx is one system on one scenario.
type runCtx struct {
	e        *Env
	sys      System
	o        *Options
	progress func(string)
}

// Run runs every system on every scenario and returns the results.
func Run(ctx context.Context, o Options) (*report.Run, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if err := checkUnderlay6(&o); err != nil {
		return nil, err
	}
	raiseFileLimit()
	r := &report.Run{Started: time.Now(), Commit: o.Commit,
		Host: report.Host{Kernel: kernel(), CPUs: runtime.NumCPU(), Go: runtime.Version(), Lab: o.Real == nil},
		Params: report.Params{Quick: o.Quick, Duration: o.Duration.Seconds(), Flows: o.Flows, Size: o.Size,
			Rate: o.Rate, Scenarios: o.Scenarios, Systems: o.Systems, Repeat: o.Repeat}}
	var e *Env
	if o.Real == nil {
		fmt.Fprintln(o.Progress, "bringing the lab up...")
		l, err := lab.Up(ctx, labOptions(&o))
		if err != nil {
			return nil, err
		}
		defer l.Down()
		e = LabEnv(l, o.XGWBin)
		if err := prepareLab(e); err != nil {
			return nil, err
		}
	} else {
		var err error
		if e, err = o.Real.Env(o.XGWBin); err != nil {
			return nil, err
		}
	}
	r.Notes = runNotes(&o)
	rounds := max(o.Repeat, 1)
	total := len(o.Systems) * len(o.Scenarios)
	for round := 2; round <= rounds; round++ {
		total += len(o.Systems) * len(repeated(&o))
	}
	n := 0
	byKey := map[[2]string][]report.Result{}
	var order [][2]string
	for round := 1; round <= rounds; round++ {
		scs := o.Scenarios
		if round > 1 {
			scs = repeated(&o)
		}
		for _, name := range o.Systems {
			for _, sc := range scs {
				n++
				if ctx.Err() != nil {
					r.Results = medians(byKey, order)
					return r, ctx.Err()
				}
				sys, err := NewSystem(name, o.SystemOptions)
				if err != nil {
					return nil, err
				}
				prefix := fmt.Sprintf("[%d/%d] %s %s", n, total, name, sc)
				if rounds > 1 {
					prefix += fmt.Sprintf(" (round %d)", round)
				}
				fmt.Fprintf(o.Progress, "%s: starting\n", prefix)
				res := runOne(e, sys, sc, &o, func(line string) { fmt.Fprintf(o.Progress, "%s: %s\n", prefix, line) })
				fmt.Fprintf(o.Progress, "%s: %s\n", prefix, summary(res))
				k := [2]string{sc, name}
				if _, ok := byKey[k]; !ok {
					order = append(order, k)
				}
				byKey[k] = append(byKey[k], res)
			}
		}
	}
	r.Results = medians(byKey, order)
	r.Finished = time.Now()
	return r, nil
}

// repeated is the scenarios of this run that later rounds repeat.
func repeated(o *Options) []string {
	var out []string
	for _, sc := range o.Scenarios {
		for _, r := range o.RepeatScenarios {
			if sc == r {
				out = append(out, sc)
			}
		}
	}
	return out
}

// medians keeps, per scenario and system, the run whose primary metric is
// the median of the successful runs (the lower middle one of an even
// count), so every figure of a row comes from one run.
func medians(byKey map[[2]string][]report.Result, order [][2]string) []report.Result {
	var out []report.Result
	for _, k := range order {
		runs := byKey[k]
		key := report.Scenarios[k[0]].Primary
		var ok []report.Result
		var vals []float64
		for _, r := range runs {
			if r.Status == "ok" {
				ok = append(ok, r)
				vals = append(vals, r.Metrics[key])
			}
		}
		if len(runs) == 1 || len(ok) == 0 {
			out = append(out, runs[0])
			continue
		}
		sorted := append([]report.Result(nil), ok...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Metrics[key] < sorted[j].Metrics[key] })
		m := sorted[(len(sorted)-1)/2]
		m.Repeats, m.RepeatValues = len(ok), vals
		if len(ok) < len(runs) {
			m.Notes = append(m.Notes, fmt.Sprintf("%d of %d runs failed and were left out of the median", len(runs)-len(ok), len(runs)))
		}
		out = append(out, m)
	}
	return out
}

// runOne starts sys, runs the scenario and stops sys, whatever happens.
func runOne(e *Env, sys System, sc string, o *Options, progress func(string)) report.Result {
	res := report.Result{Scenario: sc, System: sys.Name(), Status: "ok", Metrics: map[string]float64{}}
	if ok, why := sys.Supports(sc); !ok {
		res.Status, res.Error = "skipped", why
		return res
	}
	if (sc == ScenarioOneway6 || sc == ScenarioOneway6o6) && !oneway6Systems[sys.Name()] {
		res.Status, res.Error = "skipped", "IPv6 one-way UDP compares xgw (software, offload) and OVS"
		return res
	}
	// Systems that own the ports (OVS) bounce the links, which flushes
	// neighbours: pin them again before every start.
	if e.Lab != nil {
		if err := prepareLab(e); err != nil {
			res.Status, res.Error = "failed", "prepare: "+err.Error()
			return res
		}
	}
	if err := sys.Start(e); err != nil {
		sys.Stop()
		res.Status, res.Error = "failed", "start: "+err.Error()
		return res
	}
	// Let the gateway settle (neighbours, PMD threads, program attach).
	time.Sleep(time.Second)
	c := &runCtx{e: e, sys: sys, o: o, progress: progress}
	var err error
	switch sc {
	case "udp-oneway":
		err = c.runUDP(&res, false)
	case "udp-rr":
		err = c.runUDP(&res, true)
	case ScenarioOneway6:
		err = c.runOneway6(&res, false)
	case ScenarioOneway6o6:
		err = c.runOneway6(&res, true)
	case "fastpath":
		err = c.runFastpath(&res)
	case "iperf3-tcp":
		err = c.runIperf(&res, false)
	case "iperf3-udp":
		err = c.runIperf(&res, true)
	case "tcp-cps":
		err = c.runCPS(&res)
	case "tcp-cc":
		err = c.runCC(&res)
	default:
		err = fmt.Errorf("unknown scenario %q", sc)
	}
	res.Notes = append(sys.Notes(), res.Notes...)
	if serr := sys.Stop(); serr != nil {
		res.Notes = append(res.Notes, "stop: "+serr.Error())
	}
	if why, ok := isSkip(err); ok {
		res.Status, res.Error = "skipped", why
	} else if err != nil {
		res.Status, res.Error = "failed", err.Error()
	}
	return res
}

// prepareLab pins the neighbours on both sides of the gateway, so that no
// system's first packets wait on ARP and every system sees the same
// (static) next hops. OVS, which owns its ports, answers ARP with a flow.
func prepareLab(e *Env) error {
	a := e.A
	return e.Script(RoleGW, []string{"ip", "neigh", "replace", a.ExtIP.String(), "lladdr", a.ExtMAC.String(), "dev", a.External, "nud", "permanent"},
		[]string{"ip", "neigh", "replace", a.ChassisIP.String(), "lladdr", a.GenMAC.String(), "dev", a.Underlay, "nud", "permanent"})
}

func runNotes(o *Options) []string {
	n := []string{
		fmt.Sprintf("%d CPUs shared by generator, gateway and sink: the generator and the sink's and generator's NAPI threads are pinned to CPU %d, the gateway's processes and its interfaces' NAPI threads to CPU %d", runtime.NumCPU(), o.GenCPU, o.GatewayCPU),
		"veth: AF_XDP runs in copy mode (no zero-copy on veth); threaded NAPI on every lab veth with a NAPI instance, so each veth's receive work (XDP, AF_XDP copy, the stack) runs in its own kernel thread, counted for its owner, instead of in the softirq of whoever transmitted into it",
		"Linux peer: no Geneve in this kernel (CONFIG_GENEVE off), so it forwards plain IPv4 with nftables SNAT; its figures exclude decap/encap work",
		generatorNote(),
		"\"gateway CPU\" is the gateway's processes (user+system, /proc/<pid>/stat) + its interfaces' NAPI threads + softirq left on all CPUs (/proc/stat); the Linux peer and the XDP ceiling have no process, all their work is NAPI threads and softirq; pps per gw core and gw CPU per pkt divide by that sum",
		"a row is generator-bound when it lost < 1 % of what was sent while the gateway used < 0.9 cores: the gateway had idle time and the generator set the rate",
	}
	for _, sc := range o.Scenarios {
		if sc == "udp-rr" {
			n = append(n, fmt.Sprintf("udp-rr: requests leave in bursts of up to %.0f (50 ms of --rr-rate), so RTT includes the queueing of a burst; compare systems with each other, not with ping", o.RRRate/20))
			if xdpload.DefaultBackend() == xdpload.BackendLive {
				n = append(n, "udp-rr: live frames carry UDP checksum 0, and xgw's fast path punts a reply whose Geneve encap needs an outer checksum derived from an absent inner one (punt reason checksum): xgw-offload's replies run in software here; the AF_XDP backend sends valid checksums")
			}
		}
	}
	if xdpload.DefaultBackend() == xdpload.BackendLive {
		n = append(n, "generator: every live frame gets the template's headers copied back first: live-frames pages come back to the generator's page pool with whatever the receiver wrote into them (a fast path's decap/NAT, the Linux peer's forwarding), which before this fix corrupted most frames for xgw-offload and the Linux peer")
	}
	if o.Repeat > 1 && len(repeated(o)) > 0 {
		n = append(n, fmt.Sprintf("%s: every system ran %d times, in rounds over all systems; each row is the system's median run by the scenario's main figure (all values under the table)", strings.Join(repeated(o), ", "), o.Repeat))
	}
	if o.Quick {
		n = append(n, "quick run: short measurements, expect more noise")
	}
	return n
}

// generatorNote says which transmit backend the generator used and why.
func generatorNote() string {
	if err := xdpload.LiveFrames(); err != nil {
		return fmt.Sprintf("generator: AF_XDP TX (copy mode) out of the hypervisor's underlay veth, bypassing the hypervisor's OVS, because %v; sink and reflector are XDP programs in ns ext", err)
	}
	return "generator: BPF_PROG_RUN live frames (XDP_TX out of the hypervisor's underlay veth), bypassing the hypervisor's OVS; sink and reflector are XDP programs in ns ext"
}

func summary(r report.Result) string {
	if r.Status != "ok" {
		return r.Status + ": " + r.Error
	}
	key := report.Scenarios[r.Scenario].Primary
	var parts []string
	if v, ok := r.Metrics[key]; ok {
		parts = append(parts, fmt.Sprintf("%s %.4g", key, v))
	}
	for _, k := range []string{report.Loss, report.GWCores, report.SoftIRQCores, report.FastShare, report.TableEntries} {
		if v, ok := r.Metrics[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.3g", k, v))
		}
	}
	return "done: " + strings.Join(parts, ", ")
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// raiseFileLimit lifts RLIMIT_NOFILE: tcp-cc holds both ends of every
// connection in this process.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < 1<<20 {
		l.Cur, l.Max = 1<<20, max(l.Max, 1<<20)
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
			l.Cur = l.Max
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		}
	}
}

// WriteOutputs writes <dir>/<date>-<commit>.json, latest.md and the plots.
func WriteOutputs(r *report.Run, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	jsonPath := filepath.Join(dir, r.Started.UTC().Format("2006-01-02T150405")+"-"+r.Commit+".json")
	if err := r.WriteJSON(jsonPath); err != nil {
		return nil, err
	}
	md := filepath.Join(dir, "latest.md")
	f, err := os.Create(md)
	if err != nil {
		return nil, err
	}
	if err := report.WriteMarkdown(f, r); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	out := []string{jsonPath, md}
	rates := filepath.Join(dir, "latest-pps.png")
	if err := report.PlotRates(r, rates); err != nil {
		return out, err
	}
	out = append(out, rates)
	cpuScenario := "udp-oneway"
	if len(r.Params.Scenarios) > 0 && r.Lookup(cpuScenario, r.SystemNames()[0]) == nil {
		cpuScenario = r.Params.Scenarios[0]
	}
	cpu := filepath.Join(dir, "latest-cpu.png")
	if err := report.PlotCPU(r, cpuScenario, cpu); err != nil {
		return out, err
	}
	return append(out, cpu), nil
}
