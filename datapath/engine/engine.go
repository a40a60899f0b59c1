package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/flow"
)

// xport is one AF_XDP socket and the lock that serialises its users (its
// RX worker, plus workers that borrow it for TX when queue counts differ).
type xport struct {
	ifname string
	queue  int
	role   flow.Port // the pipeline port of frames received here (unless shared)
	mu     sync.Mutex
	p      afxdp.Port
}

// Engine owns the AF_XDP sockets and the worker goroutines.
type Engine struct {
	cfg     Config
	shared  bool     // underlay and external are one interface
	under   []*xport // by queue
	ext     []*xport // by queue; == under when shared
	workers []*worker
	expired atomic.Uint64
	closed  bool
}

// New opens an AF_XDP socket on every RX queue of both interfaces (in the
// calling thread's network namespace), registers each with cfg.Register
// and prepares one worker per queue index. Nothing is received until Run.
func New(cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, shared: cfg.Underlay == cfg.External}
	if err := e.open(cfg.Underlay, flow.Underlay, &e.under); err != nil {
		e.Close()
		return nil, err
	}
	if e.shared {
		e.ext = e.under
	} else if err := e.open(cfg.External, flow.External, &e.ext); err != nil {
		e.Close()
		return nil, err
	}
	for i := range max(len(e.under), len(e.ext)) {
		e.workers = append(e.workers, e.newWorker(i))
	}
	return e, nil
}

// open binds a socket to each RX queue of ifname, appending to *into as it
// goes so that Close finds every opened socket on error. A failure on queue 0 is
// fatal; a later one ends the list (the kernel refuses queues beyond the
// active ones) and is logged, since xdp_gw passes that queue's traffic to
// the kernel as NoSocket, where it shows in the XDP stats.
func (e *Engine) open(ifname string, role flow.Port, into *[]*xport) error {
	n := e.cfg.Queues
	if n == 0 {
		var err error
		if n, err = rxQueues(ifname); err != nil {
			return err
		}
	}
	for q := range n {
		p, err := afxdp.Open(ifname, q, e.cfg.Port)
		if err != nil {
			if q == 0 {
				return fmt.Errorf("engine: %w", err)
			}
			e.cfg.Logger.Warn("not serving the remaining RX queues", "interface", ifname, "served", q, "of", n, "err", err)
			break
		}
		*into = append(*into, &xport{ifname: ifname, queue: q, role: role, p: p})
		if err := e.cfg.Register(ifname, q, p.FD()); err != nil {
			return fmt.Errorf("engine: register %s queue %d in the XSKMAP: %w", ifname, q, err)
		}
	}
	return nil
}

// Run starts the workers and the conntrack expiry ticker and blocks until
// ctx is cancelled and they have stopped (within PollTimeout). It returns
// nil on a clean stop.
func (e *Engine) Run(ctx context.Context) error {
	if e.closed {
		return errors.New("engine: run after close")
	}
	if n := procsFor(len(e.workers), runtime.GOMAXPROCS(0)); n > 0 {
		runtime.GOMAXPROCS(n)
		e.cfg.Logger.Info("raised GOMAXPROCS so that the workers' locked threads never hold the only Ps", "gomaxprocs", n, "workers", len(e.workers))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, w := range e.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(&stop) }()
	}
	if e.cfg.Conntrack != nil {
		wg.Add(1)
		go func() { defer wg.Done(); e.expire(ctx) }()
	}
	<-ctx.Done()
	stop.Store(true)
	wg.Wait()
	return nil
}

// procsFor returns the GOMAXPROCS that Run needs with workers workers
// when it is procs now, or 0 to leave it. Go sets GOMAXPROCS from the CPU
// affinity mask, so a process pinned to one CPU gets 1: the worker's
// thread, locked and spinning while there is traffic, then holds the only
// P, and everything else (expiry, offload, metrics, control) runs only
// when sysmon preempts it, every 10 ms, at the price of a handoff each
// time. One P per worker plus one leaves those goroutines a P of their
// own; the kernel shares the CPU between the threads as it would anyway.
func procsFor(workers, procs int) int {
	if procs < workers+1 {
		return workers + 1
	}
	return 0
}

// expire reaps timed-out connections once per ExpireInterval. It runs off
// the packet path: Expire's cost is proportional to what it removes.
func (e *Engine) expire(ctx context.Context) {
	t := time.NewTicker(e.cfg.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.expired.Add(uint64(e.cfg.Conntrack.Expire(e.cfg.Clock())))
		}
	}
}

// Close closes every socket (the kernel drops them from the XSKMAP). Call
// it after Run returned.
func (e *Engine) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	for _, xp := range e.ports() {
		xp.mu.Lock()
		if err := xp.p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("engine: close %s queue %d: %w", xp.ifname, xp.queue, err))
		}
		xp.mu.Unlock()
	}
	return errors.Join(errs...)
}

// ports lists each socket once.
func (e *Engine) ports() []*xport {
	all := append([]*xport(nil), e.under...)
	if !e.shared {
		all = append(all, e.ext...)
	}
	return all
}

// Stats sums the workers' counters.
func (e *Engine) Stats() Stats {
	var s Stats
	for _, w := range e.workers {
		w.c.addTo(&s)
	}
	s.Expired = e.expired.Load()
	return s
}

// Ports returns every socket's counters (afxdp's Stats is safe to call
// while the port's worker runs).
func (e *Engine) Ports() []PortStats {
	var out []PortStats
	for _, xp := range e.ports() {
		out = append(out, PortStats{Interface: xp.ifname, Queue: xp.queue, Stats: xp.p.Stats()})
	}
	return out
}
