package afxdp

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// socket is an AF_XDP socket with its own UMEM and four rings.
type socket struct {
	fd       int
	umem     *umem
	fill     addrRing
	comp     addrRing
	rx       descRing
	tx       descRing
	zerocopy bool
}

// newSocket creates, maps and binds; on error everything is released.
func newSocket(ifindex, queue int, cfg *Config) (s *socket, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket(AF_XDP): %w", err)
	}
	s = &socket{fd: fd}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.umem, err = newUmem(cfg.NumFrames, cfg.FrameSize); err != nil {
		return nil, err
	}
	if err = s.umem.register(fd, cfg.umemHeadroom()); err != nil {
		return nil, fmt.Errorf("XDP_UMEM_REG: %w", err)
	}
	for _, o := range []struct {
		opt  int
		size int
		name string
	}{
		{unix.XDP_UMEM_FILL_RING, cfg.FillRingSize, "fill"},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.CompletionRingSize, "completion"},
		{unix.XDP_RX_RING, cfg.RxRingSize, "rx"},
		{unix.XDP_TX_RING, cfg.TxRingSize, "tx"},
	} {
		if err = unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.size); err != nil {
			return nil, fmt.Errorf("set %s ring size %d: %w", o.name, o.size, err)
		}
	}
	var off unix.XDPMmapOffsets
	if err = getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return nil, fmt.Errorf("XDP_MMAP_OFFSETS: %w", err)
	}
	if s.fill, err = mapAddrRing(fd, off.Fr, uint32(cfg.FillRingSize), unix.XDP_UMEM_PGOFF_FILL_RING); err != nil {
		return nil, fmt.Errorf("fill ring: %w", err)
	}
	if s.comp, err = mapAddrRing(fd, off.Cr, uint32(cfg.CompletionRingSize), unix.XDP_UMEM_PGOFF_COMPLETION_RING); err != nil {
		return nil, fmt.Errorf("completion ring: %w", err)
	}
	if s.rx, err = mapDescRing(fd, off.Rx, uint32(cfg.RxRingSize), unix.XDP_PGOFF_RX_RING); err != nil {
		return nil, fmt.Errorf("rx ring: %w", err)
	}
	if s.tx, err = mapDescRing(fd, off.Tx, uint32(cfg.TxRingSize), unix.XDP_PGOFF_TX_RING); err != nil {
		return nil, fmt.Errorf("tx ring: %w", err)
	}
	flags := uint16(unix.XDP_USE_NEED_WAKEUP)
	switch cfg.Mode {
	case ModeCopy:
		flags |= unix.XDP_COPY
	case ModeZeroCopy:
		flags |= unix.XDP_ZEROCOPY
	}
	if err = unix.Bind(fd, &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: uint32(queue)}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	var opts uint32
	if e := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&opts), unsafe.Sizeof(opts)); e == nil {
		s.zerocopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	return s, nil
}

func (s *socket) close() error {
	var err error
	if s.fd >= 0 {
		err = unix.Close(s.fd)
		s.fd = -1
	}
	s.fill.unmap()
	s.comp.unmap()
	s.rx.unmap()
	s.tx.unmap()
	if s.umem != nil {
		s.umem.unmap()
	}
	return err
}

// kickTx wakes the kernel's TX path; kickRx asks a zero-copy driver to
// refill from the fill ring. Transient errnos mean "try later" and are not
// errors: the frames stay in their ring.
func (s *socket) kickTx() error { return s.kick(unix.SYS_SENDTO) }
func (s *socket) kickRx() error { return s.kick(unix.SYS_RECVFROM) }

// kick is a RawSyscall: with MSG_DONTWAIT it never blocks, so there is
// nothing for the Go scheduler to do around it (Syscall would tell it, and
// with GOMAXPROCS 1 sysmon then hands the P away during a long copy-mode
// sendto, a context switch per kick).
func (s *socket) kick(sysno uintptr) error {
	for {
		_, _, e := unix.RawSyscall6(sysno, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.ENETDOWN:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

var errClosed = errors.New("afxdp: port closed")
