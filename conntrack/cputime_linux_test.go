package conntrack

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuClock measures the CPU time of the benchmark's own thread, which on a
// shared, overloaded machine is a steadier figure than wall time (it
// excludes time spent runnable but descheduled).
type cpuClock struct{ start, paused time.Duration }

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startCPU pins the goroutine to its thread and starts the clock.
func startCPU() *cpuClock {
	runtime.LockOSThread()
	return &cpuClock{start: threadCPU()}
}

// pause and resume bracket work excluded from the figure (b.StopTimer).
func (c *cpuClock) pause()  { c.paused -= threadCPU() }
func (c *cpuClock) resume() { c.paused += threadCPU() }

// report adds the cpu-ns/op metric and unpins.
func (c *cpuClock) report(b *testing.B) {
	d := threadCPU() - c.start - c.paused
	runtime.UnlockOSThread()
	if d > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
