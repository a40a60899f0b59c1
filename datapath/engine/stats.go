package engine

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/datapath/afxdp"
)

// Stats are the engine's own counters: what happens to frames between the
// AF_XDP rings and the pipeline, summed over workers.
type Stats struct {
	Batches           uint64 // non-empty batches processed
	Frames            uint64 // frames received and given to the pipeline
	PassAfterRedirect uint64 // VerdictPass on a frame already in AF_XDP: dropped (expected ~0)
	TxInPlace         uint64 // frames sent back out of the interface they came in on
	TxCopied          uint64 // frames copied to the other interface and sent
	TxRingFull        uint64 // frames dropped because the TX ring was full
	TxNoFrame         uint64 // frames dropped: no free chunk on the other interface
	TxTooBig          uint64 // frames dropped: larger than the other interface's chunk
	Errors            uint64 // port errors (receive, transmit, poll)
	Expired           uint64 // conntrack entries removed by the expiry ticker
}

// PortStats are one AF_XDP socket's counters.
type PortStats struct {
	Interface string
	Queue     int
	Stats     afxdp.Stats
}

// counters are one worker's as Stats reads them; the worker stores its
// local ones there (publish) so readers need no lock.
type counters struct {
	batches, frames, passAfterRedirect, txInPlace, txCopied,
	txRingFull, txNoFrame, txTooBig, errors atomic.Uint64
}

// local are the worker's running counters, plain: the worker is their
// only reader and writer.
type local struct {
	batches, frames, passAfterRedirect, txInPlace, txCopied,
	txRingFull, txNoFrame, txTooBig, errors uint64
}

// storeTo publishes l. Errors are also added to c directly by sleep (off
// the hot path), so they are kept apart: c.errors = sleep's + l's.
func (l *local) storeTo(c *counters) {
	c.batches.Store(l.batches)
	c.frames.Store(l.frames)
	c.passAfterRedirect.Store(l.passAfterRedirect)
	c.txInPlace.Store(l.txInPlace)
	c.txCopied.Store(l.txCopied)
	c.txRingFull.Store(l.txRingFull)
	c.txNoFrame.Store(l.txNoFrame)
	c.txTooBig.Store(l.txTooBig)
	if l.errors > 0 {
		c.errors.Add(l.errors)
		l.errors = 0
	}
}

func (c *counters) addTo(s *Stats) {
	s.Batches += c.batches.Load()
	s.Frames += c.frames.Load()
	s.PassAfterRedirect += c.passAfterRedirect.Load()
	s.TxInPlace += c.txInPlace.Load()
	s.TxCopied += c.txCopied.Load()
	s.TxRingFull += c.txRingFull.Load()
	s.TxNoFrame += c.txNoFrame.Load()
	s.TxTooBig += c.txTooBig.Load()
	s.Errors += c.errors.Load()
}

// Worker is one forwarding goroutine (one RX queue index) and the Linux
// thread it is locked to.
type Worker struct {
	Worker int // queue index
	// TID is the thread; 0 until Run started the worker.
	TID int
	// Busy is the thread's CPU time. A worker spins while it has traffic
	// and sleeps in ppoll when not, so CPU time is busy time.
	Busy time.Duration
}

// Workers reports every worker's thread and CPU time, read from the
// thread's CPU clock (no /proc parsing, no work in the worker).
func (e *Engine) Workers() []Worker {
	out := make([]Worker, 0, len(e.workers))
	for _, w := range e.workers {
		ws := Worker{Worker: w.id, TID: int(w.tid.Load())}
		if ws.TID != 0 {
			ws.Busy = threadCPU(ws.TID)
		}
		out = append(out, ws)
	}
	return out
}

// threadCPU is the CPU time of thread tid of this process (0 if it is
// gone). The clock id is glibc's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED):
// ^tid << 3 | CPUCLOCK_PERTHREAD_MASK (4) | CPUCLOCK_SCHED (2).
func threadCPU(tid int) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^uint32(tid)<<3|6), &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
