// Package afxdp is xgw's AF_XDP port: one socket per (interface, queue),
// each with its own UMEM, on golang.org/x/sys/unix. It is built for run-to-
// completion workers that modify received frames and send them back in
// place, so ownership of each UMEM chunk is explicit.
package afxdp

import (
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Frame is one packet in a port's UMEM: the chunk at Addr, with packet data
// at [Off, Off+Len) of the chunk. Off may be lowered to prepend headers
// (Geneve encap) as long as it stays >= 0.
type Frame struct {
	Addr     uint64
	Off, Len int
}

// Port is an AF_XDP socket on one queue of one interface. A Port is not safe
// for concurrent use, except Stats. Frames returned by Receive or Alloc are
// the caller's until passed to Transmit (which takes them; the chunk returns
// to the pool when the kernel completes it) or Release.
type Port interface {
	// Receive fills frames with received packets without blocking.
	Receive(frames []Frame) (n int, err error)
	// Transmit queues frames of this port's UMEM and wakes the kernel if
	// needed. It takes frames[:n]; on a full TX ring n < len(frames) and
	// the rest stay the caller's.
	Transmit(frames []Frame) (n int, err error)
	// Queue is Transmit without the wake-up: frames wait in the TX ring
	// until Flush (or the ring filling up, which flushes first), so that a
	// worker pays one sendto for several batches. Same ownership rules.
	Queue(frames []Frame) (n int, err error)
	// Flush wakes the kernel for queued TX if it asks for it
	// (need_wakeup); Pending says how many frames it has not taken yet.
	Flush() error
	Pending() int
	// Alloc fills frames with free chunks (Off = headroom, Len = 0), e.g.
	// to copy in a frame received on another port.
	Alloc(frames []Frame) int
	// Release gives frames back without sending them (drop).
	Release(frames []Frame)
	// Buf is the whole chunk of f; the packet is Buf(f)[f.Off:f.Off+f.Len].
	Buf(f *Frame) []byte
	// Poll waits up to timeout for received packets; it also pushes
	// pending TX. A timeout is not an error.
	Poll(timeout time.Duration) error
	// FD is the socket, to register in the XSKMAP.
	FD() int
	Stats() Stats
	Close() error
}

// Open binds a new socket to queue of ifname (resolved in the calling
// thread's network namespace) and primes its fill ring.
func Open(ifname string, queue int, cfg Config) (Port, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("afxdp: %s queue %d: %w", ifname, queue, err)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("afxdp: %s queue %d: %w", ifname, queue, err)
	}
	s, err := newSocket(ifi.Index, queue, &cfg)
	if err != nil {
		return nil, fmt.Errorf("afxdp: %s queue %d: %w", ifname, queue, err)
	}
	p := &port{s: s, u: s.umem, headroom: cfg.Headroom}
	p.pfd[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	p.refill()
	return p, nil
}

// txRetry bounds Poll's sleep while TX frames wait in the ring.
const txRetry = 100 * time.Microsecond

type port struct {
	s        *socket
	u        *umem
	headroom int
	pfd      [1]unix.PollFd
	ts       unix.Timespec
	ctr      counters
	closed   bool
}

func (p *port) FD() int { return p.s.fd }

// ZeroCopy reports whether the kernel bound the socket in zero-copy mode.
func (p *port) ZeroCopy() bool { return p.s.zerocopy }

// reap moves completed TX chunks back to the free stack.
func (p *port) reap() {
	c := &p.s.comp
	n := c.avail(c.size)
	if n == 0 {
		return
	}
	for i := uint32(0); i < n; i++ {
		p.u.push(p.u.base(c.descs[c.local&c.mask]))
		c.local++
	}
	c.release()
	p.ctr.txDone.Add(uint64(n))
}

// refill hands free chunks to the kernel for RX.
func (p *port) refill() {
	f := &p.s.fill
	n := f.free(uint32(len(p.u.free)))
	if n == 0 {
		return
	}
	for i := uint32(0); i < n; i++ {
		a, _ := p.u.pop()
		p.u.state[p.u.index(a)] = chunkKernel
		f.descs[f.local&f.mask] = a
		f.local++
	}
	f.submit()
}

func (p *port) Receive(frames []Frame) (int, error) {
	if p.closed {
		return 0, errClosed
	}
	p.reap()
	p.refill()
	r := &p.s.rx
	n := r.avail(uint32(len(frames)))
	for i := uint32(0); i < n; i++ {
		d := &r.descs[r.local&r.mask]
		base := p.u.base(d.Addr)
		p.u.state[p.u.index(base)] = chunkUser
		frames[i] = Frame{Addr: base, Off: int(d.Addr - base), Len: int(d.Len)}
		r.local++
	}
	if n > 0 {
		r.release()
		p.ctr.rx.Add(uint64(n))
		return int(n), nil
	}
	if p.s.fill.needsWakeup() {
		p.ctr.rxKicks.Add(1)
		if err := p.s.kickRx(); err != nil {
			return 0, fmt.Errorf("afxdp: rx wakeup: %w", err)
		}
	}
	return 0, nil
}

func (p *port) Transmit(frames []Frame) (int, error) {
	n, err := p.Queue(frames)
	if kerr := p.flush(); kerr != nil && err == nil {
		err = kerr
	}
	return n, err
}

func (p *port) Flush() error {
	if p.closed {
		return errClosed
	}
	return p.flush()
}

func (p *port) Pending() int { return int(p.s.tx.pending()) }

func (p *port) Queue(frames []Frame) (int, error) {
	if p.closed {
		return 0, errClosed
	}
	p.reap()
	t := &p.s.tx
	if t.free(uint32(len(frames))) < uint32(len(frames)) {
		// Full: push what waits, then take what fits.
		if err := p.flush(); err != nil {
			return 0, err
		}
	}
	n := t.free(uint32(len(frames)))
	var err error
	for i := uint32(0); i < n; i++ {
		f := &frames[i]
		if !p.u.owned(f) {
			err = fmt.Errorf("afxdp: transmit frame %d (addr %#x off %d len %d): not a frame owned by the caller", i, f.Addr, f.Off, f.Len)
			n = i
			break
		}
		p.u.state[p.u.index(f.Addr)] = chunkKernel
		t.descs[t.local&t.mask] = unix.XDPDesc{Addr: f.Addr + uint64(f.Off), Len: uint32(f.Len)}
		t.local++
	}
	if n > 0 {
		t.submit()
		p.ctr.tx.Add(uint64(n))
	}
	return int(n), err
}

// flush kicks the kernel while it asks for it and TX is pending. In copy
// mode one sendto sends at most 32 frames, so a big batch takes several.
func (p *port) flush() error {
	t := &p.s.tx
	for tries := 0; tries < 64 && t.pending() > 0 && t.needsWakeup(); tries++ {
		p.ctr.txKicks.Add(1)
		if err := p.s.kickTx(); err != nil {
			return fmt.Errorf("afxdp: tx wakeup: %w", err)
		}
		p.reap()
	}
	return nil
}

func (p *port) Alloc(frames []Frame) int {
	if p.closed {
		return 0
	}
	p.reap()
	n := 0
	for n < len(frames) {
		a, ok := p.u.pop()
		if !ok {
			break
		}
		p.u.state[p.u.index(a)] = chunkUser
		frames[n] = Frame{Addr: a, Off: p.headroom}
		n++
	}
	return n
}

func (p *port) Release(frames []Frame) {
	if p.closed {
		return
	}
	bad := 0
	for i := range frames {
		if !p.u.owned(&frames[i]) {
			bad++
			continue
		}
		p.u.push(frames[i].Addr)
	}
	if bad > 0 {
		p.ctr.bad.Add(uint64(bad))
	}
	p.refill()
}

// Buf does not keep f: callers may pass the address of a local.
func (p *port) Buf(f *Frame) []byte {
	end := f.Addr + p.u.frameSize
	return p.u.mem[f.Addr:end:end]
}

func (p *port) Poll(timeout time.Duration) error {
	if p.closed {
		return errClosed
	}
	if err := p.flush(); err != nil {
		return err
	}
	p.reap()
	p.refill()
	if p.s.rx.avail(1) > 0 {
		return nil
	}
	// Copy-mode TX that the device refused (veth peer ring full) is not
	// retried by the kernel and nothing wakes us when it could be: nap
	// briefly instead of sleeping on RX alone.
	if p.s.tx.pending() > 0 && (timeout < 0 || timeout > txRetry) {
		timeout = txRetry
	}
	var ts *unix.Timespec // nil: wait forever
	if timeout >= 0 {
		p.ts = unix.NsecToTimespec(int64(timeout))
		ts = &p.ts
	}
	for {
		// Raw ppoll: unix.Poll allocates its timespec.
		_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&p.pfd[0])), 1, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("afxdp: poll: %w", e)
	}
}

func (p *port) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.s.close(); err != nil {
		return fmt.Errorf("afxdp: close: %w", err)
	}
	return nil
}
