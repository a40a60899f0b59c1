package engine

import (
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/flow"
)

// minIdle is the first idle sleep after traffic: short, because copy-mode
// TX the device refused is only retried when we come back (nothing wakes
// us for it), and the sleep doubles up to PollTimeout while idle.
const minIdle = 100 * time.Microsecond

// kickAt is how many queued TX frames make the worker wake the kernel
// without waiting to go idle: copy mode sends at most 32 frames per
// sendto, so fewer per kick would only cost more syscalls. TX therefore
// waits at most until 32 frames are queued or the first poll that finds
// nothing to receive, whichever comes first.
const kickAt = 32

// statsEvery is how many batches the worker counts in private before it
// publishes its counters; it also publishes whenever it goes idle and
// when it stops, so Stats lags a busy worker by at most statsEvery
// batches and is exact for an idle one.
const statsEvery = 16

// worker serves queue i: it receives on rx (the underlay and, if distinct,
// the external port of queue i) and transmits on tx[OutPort].
type worker struct {
	e     *Engine
	proc  Processor
	class classifier
	rx    []*xport
	tx    [flow.NumPorts]*xport
	out   []*xport     // every port it transmits on (rx and tx, each once)
	c     counters     // published
	l     local        // private, published every statsEvery batches
	nb    int          // batches since the last publish
	id    int          // queue index
	tid   atomic.Int32 // Linux thread once run locked it; 0 before
	touch byte         // sink of the header prefetch (serve)

	// holder is proc if it holds packets back (held.go), else nil.
	holder Holder

	// Scratch, sized to the batch once, so the loop allocates nothing.
	frames []afxdp.Frame
	pkts   []datapath.Packet
	same   []afxdp.Frame // in-place TX
	rel    []afxdp.Frame // back to the RX port
	txf    []afxdp.Frame // chunks on the other interface
	orel   []afxdp.Frame // other-interface chunks to give back
	cross  []int         // indices of frames to copy across
	pfds   []unix.PollFd
	ts     unix.Timespec
}

func (e *Engine) newWorker(i int) *worker {
	b := e.cfg.BatchSize
	w := &worker{
		e:      e,
		id:     i,
		proc:   e.cfg.NewProcessor(), // here, not in run: pipeline stats see it at once
		class:  classifier{vtep: e.cfg.VTEP, port: e.cfg.GenevePort},
		frames: make([]afxdp.Frame, b),
		pkts:   make([]datapath.Packet, b),
		same:   make([]afxdp.Frame, 0, b),
		rel:    make([]afxdp.Frame, 0, b),
		txf:    make([]afxdp.Frame, b),
		orel:   make([]afxdp.Frame, 0, b),
		cross:  make([]int, 0, b),
	}
	w.holder, _ = w.proc.(Holder)
	if i < len(e.under) {
		w.rx = append(w.rx, e.under[i])
	}
	if !e.shared && i < len(e.ext) {
		w.rx = append(w.rx, e.ext[i])
	}
	w.tx[flow.Underlay] = e.under[i%len(e.under)]
	w.tx[flow.External] = e.ext[i%len(e.ext)]
	for _, xp := range w.rx {
		w.pfds = append(w.pfds, unix.PollFd{Fd: int32(xp.p.FD()), Events: unix.POLLIN})
	}
	for _, xp := range append(append([]*xport(nil), w.rx...), w.tx[:]...) {
		if !slices.Contains(w.out, xp) {
			w.out = append(w.out, xp)
		}
	}
	return w
}

// flush wakes the kernel on every port with at least min frames queued
// for TX (min 1: all that have any).
func (w *worker) flush(min int) {
	for _, xp := range w.out {
		xp.mu.Lock()
		var err error
		if xp.p.Pending() >= min {
			err = xp.p.Flush()
		}
		xp.mu.Unlock()
		if err != nil {
			w.l.errors++
		}
	}
}

// publish makes the private counters visible to Stats.
func (w *worker) publish() {
	w.l.storeTo(&w.c)
	w.nb = 0
}

// run is the worker's loop: serve every port until none has anything,
// then sleep on all of them at once.
func (w *worker) run(stop *atomic.Bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Locked, the thread is this worker's for good: its CPU clock is the
	// worker's busy time.
	w.tid.Store(int32(unix.Gettid()))
	defer w.publish()
	idle := minIdle
	for !stop.Load() {
		busy := false
		for _, xp := range w.rx {
			if w.serve(xp) > 0 {
				busy = true
			}
		}
		// Fragments ready beyond a batch's share leave now, not with
		// the next batch; while some remain, do not sleep. (Before
		// sendHeld: one may wait for its next hop's MAC.)
		if w.drainExtra() {
			busy = true
		}
		held := w.sendHeld()
		if busy {
			// TX kicks are coalesced across batches (kickAt).
			w.flush(kickAt)
			if w.nb >= statsEvery {
				// A port with a trickle of TX beside a busy one waits
				// at most statsEvery batches for its kick (copy mode
				// sends nothing without one).
				w.flush(1)
				w.publish()
			}
			idle = minIdle
			continue
		}
		w.flush(1)
		w.publish()
		if held {
			w.sleep(min(idle, holdPoll))
			continue
		}
		w.sleep(idle)
		idle = min(2*idle, w.e.cfg.PollTimeout)
	}
}

// sleep pushes pending TX on each port (Poll with a zero timeout), then
// waits on every port's fd without holding any port lock, so a worker
// borrowing one of our ports for TX is never held up by our sleep.
func (w *worker) sleep(d time.Duration) {
	for _, xp := range w.rx {
		xp.mu.Lock()
		err := xp.p.Poll(0)
		xp.mu.Unlock()
		if err != nil {
			w.c.errors.Add(1)
		}
	}
	w.ts = unix.NsecToTimespec(int64(d))
	if _, err := unix.Ppoll(w.pfds, &w.ts, nil); err != nil && err != unix.EINTR {
		w.c.errors.Add(1)
	}
}

// serve runs one batch from xp through the pipeline and out. It returns
// how many frames it received.
func (w *worker) serve(xp *xport) int {
	xp.mu.Lock()
	n, err := xp.p.Receive(w.frames)
	xp.mu.Unlock()
	if err != nil {
		w.l.errors++
	}
	if n == 0 {
		return 0
	}
	// Touch the headers of the whole batch before processing any: the
	// frames were written by another CPU (the NIC's or veth's softirq)
	// and each first load is a cross-core transfer. Issued back to back
	// the loads overlap; one at a time in the pipeline each stalls alone.
	// Two lines cover Geneve's outer and inner headers up to L4.
	var t byte
	for i := range n {
		f := &w.frames[i]
		pk := &w.pkts[i]
		*pk = datapath.Packet{Buf: xp.p.Buf(f), Off: f.Off, Len: f.Len, InPort: xp.role}
		if f.Len > 64 {
			t += pk.Buf[f.Off] + pk.Buf[f.Off+64]
		}
	}
	w.touch += t
	if w.e.shared {
		for i := range n {
			pk := &w.pkts[i]
			pk.InPort = w.class.inPort(pk.Frame())
		}
	}
	w.proc.Process(w.pkts[:n])

	same, rel, cross := w.same[:0], w.rel[:0], w.cross[:0]
	var passed uint64
	for i := range n {
		pk, f := &w.pkts[i], &w.frames[i]
		switch {
		case pk.Verdict == datapath.VerdictTX && pk.OutPort < flow.NumPorts:
			f.Off, f.Len = pk.Off, pk.Len // the pipeline may have encapsulated
			if w.tx[pk.OutPort].ifname == xp.ifname {
				same = append(same, *f) // our own chunk: send it as is
			} else {
				cross = append(cross, i)
				rel = append(rel, *f)
			}
		case pk.Verdict == datapath.VerdictPass:
			// Already taken from the kernel by xdp_gw's redirect: there is
			// no way back into the stack. See the package doc.
			passed++
			rel = append(rel, *f)
		default:
			rel = append(rel, *f)
		}
	}
	if len(cross) > 0 {
		w.copyOut(xp, cross)
	}
	w.sendExtra()

	xp.mu.Lock()
	if len(same) > 0 {
		sent, err := xp.p.Queue(same)
		if err != nil {
			w.l.errors++
		}
		if sent < len(same) {
			w.l.txRingFull += uint64(len(same) - sent)
			rel = append(rel, same[sent:]...)
		}
		w.l.txInPlace += uint64(sent)
	}
	if len(rel) > 0 {
		xp.p.Release(rel)
	}
	xp.mu.Unlock()

	w.l.batches++
	w.l.frames += uint64(n)
	w.l.passAfterRedirect += passed
	w.nb++
	return n
}

// copyOut copies the frames at cross into chunks of the other interface's
// port and transmits them there. The originals are released by the caller.
func (w *worker) copyOut(from *xport, cross []int) {
	// Every crossing frame goes to the one interface that is not from's.
	out := w.tx[flow.Underlay]
	if out.ifname == from.ifname {
		out = w.tx[flow.External]
	}
	w.transmitCopies(out, w.pkts, cross)
}

// transmitCopies copies the frames of pkts at the indices cross into
// chunks of out and transmits them there.
func (w *worker) transmitCopies(out *xport, pkts []datapath.Packet, cross []int) {
	out.mu.Lock()
	defer out.mu.Unlock()
	k := out.p.Alloc(w.txf[:len(cross)])
	if k < len(cross) {
		w.l.txNoFrame += uint64(len(cross) - k)
	}
	m := 0
	orel := w.orel[:0]
	for j, i := range cross[:k] {
		src := pkts[i].Frame()
		// Through the slice, not a copy in a local: Buf is an interface
		// call, so the address of a local passed to it escapes, one
		// allocation per copied frame.
		dst := &w.txf[j]
		buf := out.p.Buf(dst)
		if dst.Off+len(src) > len(buf) {
			w.l.txTooBig++
			orel = append(orel, *dst)
			continue
		}
		dst.Len = copy(buf[dst.Off:], src)
		w.txf[m] = *dst
		m++
	}
	if m > 0 {
		sent, err := out.p.Queue(w.txf[:m])
		if err != nil {
			w.l.errors++
		}
		if sent < m {
			w.l.txRingFull += uint64(m - sent)
			orel = append(orel, w.txf[sent:m]...)
		}
		w.l.txCopied += uint64(sent)
	}
	if len(orel) > 0 {
		out.p.Release(orel)
	}
}
