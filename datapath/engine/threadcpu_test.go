package engine

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestThreadCPU: the per-thread CPU clock of another thread sees that
// thread's work, and not the caller's.
func TestThreadCPU(t *testing.T) {
	// A thread's clock counts from the thread's start, and the runtime
	// reuses threads that ran other tests before: compare what each used
	// over the same window, on threads that stay their goroutines'.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	me := unix.Gettid()
	tids := make(chan int)
	stop := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		// Spin on purpose: this thread is the busy worker.
		for n := 0; ; n++ {
			if n%1024 == 0 && isClosed(stop) {
				return
			}
		}
	}()
	tid := <-tids
	idle0, busy0 := threadCPU(me), threadCPU(tid)
	time.Sleep(300 * time.Millisecond)
	busy := threadCPU(tid) - busy0
	close(stop)
	if busy < 100*time.Millisecond || busy > time.Second {
		t.Fatalf("a spinning thread used %v of CPU in 300ms", busy)
	}
	if idle := threadCPU(me) - idle0; idle > busy {
		t.Fatalf("this thread used %v in the window > spinning thread %v", idle, busy)
	}
	if threadCPU(1<<22-1) != 0 {
		t.Fatal("a thread that does not exist has CPU time")
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
