package main

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/datapath"
)

// numVerdicts is the number of pipeline verdicts (drop, tx, pass).
const numVerdicts = int(datapath.VerdictPass) + 1

// meteredWorker is a pipeline worker as the engine sees it, plus what the
// pipeline does not count itself yet: bytes per verdict, and the Linux
// thread the worker runs on (for its busy time). Embedding keeps every
// other method of datapath.Worker available to the engine.
//
// Bytes belong in datapath's own counters, next to the per-verdict packet
// counts; until they are there, this adds one addition per frame after the
// batch, and publishes once per batch, like the pipeline does.
type meteredWorker struct {
	*datapath.Worker
	id    int
	tid   atomic.Int32
	bytes [numVerdicts]uint64 // owned by the worker thread
	pub   [numVerdicts]atomic.Uint64
}

// Process implements engine.Processor.
func (m *meteredWorker) Process(batch []datapath.Packet) {
	if m.tid.Load() == 0 {
		// The engine locks each worker to its OS thread before its first
		// batch, so the first batch tells which thread it is, for good.
		m.tid.Store(int32(unix.Gettid()))
	}
	m.Worker.Process(batch)
	for i := range batch {
		if v := int(batch[i].Verdict); v < numVerdicts {
			m.bytes[v] += uint64(batch[i].Len)
		}
	}
	for v := range m.bytes {
		m.pub[v].Store(m.bytes[v])
	}
}

// meters are every worker's meters.
type meters struct {
	mu sync.Mutex
	ws []*meteredWorker
}

// wrap meters w; the engine creates workers in queue order, so the index
// is the worker (queue) number.
func (ms *meters) wrap(w *datapath.Worker) *meteredWorker {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m := &meteredWorker{Worker: w, id: len(ms.ws)}
	ms.ws = append(ms.ws, m)
	return m
}

// bytes sums the bytes per verdict over workers.
func (ms *meters) bytes() (out [numVerdicts]uint64) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, m := range ms.ws {
		for v := range out {
			out[v] += m.pub[v].Load()
		}
	}
	return out
}

// workers reports each worker's thread and its CPU time, read from the
// thread's CPU clock (clock_gettime on another thread of this process:
// cheap, no /proc parsing, no work in the worker).
func (ms *meters) workers() []control.Worker {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := make([]control.Worker, 0, len(ms.ws))
	for _, m := range ms.ws {
		w := control.Worker{Worker: m.id, TID: int(m.tid.Load())}
		if w.TID != 0 {
			w.BusySeconds = threadCPU(w.TID).Seconds()
		}
		out = append(out, w)
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
