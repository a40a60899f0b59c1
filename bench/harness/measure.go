package harness

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/xgw-dev/xgw/bench/cpuacct"
	"github.com/xgw-dev/xgw/bench/report"
)

// window is one measured interval: CPU snapshots at both ends, the
// gateway's counters at both ends, and a once-a-second sampler in between
// that tracks the largest connection table seen and prints progress.
type window struct {
	c      *runCtx
	napi   napiThreads
	groups cpuacct.Groups
	before cpuacct.Snapshot
	s0     Sample

	mu       sync.Mutex
	maxTable float64
	status   func() string // one-line live status for the progress line
	stop     chan struct{}
	done     chan struct{}
}

func (c *runCtx) groups(napi napiThreads) cpuacct.Groups {
	e := c.e
	return cpuacct.Groups{
		"gateway": c.sys.PIDs,
		// The NAPI threads of the gateway's interfaces (napi.go): its XDP
		// programs and the copy into its AF_XDP sockets, or for the Linux
		// peer and the ceiling their whole forwarding work.
		"gateway_napi": func() []int { return napi.pids["gateway"] },
		// The generator side: our own process (the BPF_PROG_RUN loop or the
		// socket clients and servers), the hypervisor's OVS and the VM.
		"generator": func() []int {
			pids := append(append([]int{os.Getpid()}, e.PIDsIn(RoleGen)...), e.PIDsIn(RoleVM)...)
			return append(pids, napi.pids["generator"]...)
		},
		"sink": func() []int { return append(e.PIDsIn(RoleExt), napi.pids["sink"]...) },
	}
}

// startWindow takes the first samples and starts the sampler.
func (c *runCtx) startWindow(status func() string) (*window, error) {
	napi := c.threadNAPI()
	w := &window{c: c, napi: napi, groups: c.groups(napi), maxTable: -1, status: status,
		stop: make(chan struct{}), done: make(chan struct{})}
	w.s0 = c.sys.Sample()
	w.maxTable = w.s0.TableEntries
	var err error
	if w.before, err = cpuacct.Take(w.groups); err != nil {
		return nil, err
	}
	go w.sample()
	return w, nil
}

func (w *window) sample() {
	defer close(w.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		s := w.c.sys.Sample()
		w.mu.Lock()
		if s.TableEntries > w.maxTable {
			w.maxTable = s.TableEntries
		}
		table := w.maxTable
		w.mu.Unlock()
		line := fmt.Sprintf("%4.0fs", time.Since(start).Seconds())
		if w.status != nil {
			line += "  " + w.status()
		}
		if table >= 0 {
			line += fmt.Sprintf("  table %.0f", table)
		}
		w.c.progress(line)
	}
}

// end stops the sampler and fills CPU and table metrics into m. It returns
// the gateway's counters at both ends.
func (w *window) end(m map[string]float64) (s0, s1 Sample, err error) {
	after, err := cpuacct.Take(w.groups)
	close(w.stop)
	<-w.done
	s1 = w.c.sys.Sample()
	if err != nil {
		return w.s0, s1, err
	}
	u := cpuacct.Diff(w.before, after)
	m[report.GWCores] = u.Groups["gateway"]
	m[report.GWNapiCores] = u.Groups["gateway_napi"]
	m[report.GenCores] = u.Groups["generator"]
	m[report.SinkCores] = u.Groups["sink"]
	m[report.SoftIRQCores] = u.SoftIRQ
	m[report.BusyCores] = u.Busy
	w.mu.Lock()
	if s1.TableEntries > w.maxTable {
		w.maxTable = s1.TableEntries
	}
	if w.maxTable >= 0 {
		m[report.TableEntries] = w.maxTable
	}
	w.mu.Unlock()
	return w.s0, s1, nil
}

// gatewayWork is the CPU the gateway spent, in cores: its processes, its
// interfaces' NAPI threads and all softirq left (with threaded NAPI that
// is what did not move to a thread: a device without a NAPI instance, the
// Linux peer's backlog; without it, every device's receive work).
func gatewayWork(m map[string]float64) float64 {
	return m[report.GWCores] + m[report.GWNapiCores] + m[report.SoftIRQCores]
}

// genBoundLoss and genBoundGW: a run that lost less than genBoundLoss of
// what it was sent while the gateway used less than genBoundGW cores (it
// had idle time on its CPU) measured the generator, not the gateway.
const (
	genBoundLoss = 0.01
	genBoundGW   = 0.9
)

// perPacket fills the figures derived from the delivered rate: pps per
// gateway core, the gateway's CPU per packet, and whether the generator
// set the rate.
func perPacket(m map[string]float64, pps float64) {
	gw := gatewayWork(m)
	if gw > 0 && pps > 0 {
		m[report.PPSPerCore] = pps / gw
		m[report.GWNsPerPkt] = gw * 1e9 / pps
	}
	bound := 0.0
	if m[report.Loss] < genBoundLoss && gw < genBoundGW {
		bound = 1
	}
	m[report.GenBound] = bound
}

// fastShare is the fraction of forwarded packets that took the fast path:
// from the gateway's fast-path counters when it has them
// (Δfast / (Δfast + Δsoftware)), else the packets its software path did
// not count: 1 - Δsoftware/forwarded.
func fastShare(m map[string]float64, s0, s1 Sample, forwarded float64) {
	if s0.Fast >= 0 && s1.Fast >= 0 && s0.Software >= 0 && s1.Software >= 0 {
		fast, sw := s1.Fast-s0.Fast, s1.Software-s0.Software
		if fast+sw > 0 {
			m[report.FastShare] = fast / (fast + sw)
			return
		}
	}
	if s0.Software < 0 || s1.Software < 0 || forwarded <= 0 {
		return
	}
	share := 1 - (s1.Software-s0.Software)/forwarded
	m[report.FastShare] = min(max(share, 0), 1)
}
