package afxdp

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Stats are a port's counters: ours, then the kernel's XDP_STATISTICS.
type Stats struct {
	RxPackets   uint64 // frames returned by Receive
	TxPackets   uint64 // frames accepted by Transmit
	TxCompleted uint64 // frames the kernel finished sending
	TxKicks     uint64 // sendto wake-ups
	RxKicks     uint64 // recvfrom wake-ups (fill ring need_wakeup)
	BadFrames   uint64 // frames passed to Release not owned by the caller

	RxDropped      uint64 // kernel: dropped for other reasons
	RxInvalidDescs uint64 // kernel: bad fill descriptors
	TxInvalidDescs uint64 // kernel: bad tx descriptors
	RxRingFull     uint64 // kernel: dropped because our rx ring was full
	FillRingEmpty  uint64 // kernel: no fill descriptor for a packet
	TxRingEmpty    uint64 // kernel: woken with an empty tx ring
}

// counters are updated once per batch by the port's goroutine and read by
// anyone.
type counters struct {
	rx, tx, txDone, txKicks, rxKicks, bad atomic.Uint64
}

func (s *socket) kernelStats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	err := getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st))
	return st, err
}

func (p *port) Stats() Stats {
	s := Stats{
		RxPackets:   p.ctr.rx.Load(),
		TxPackets:   p.ctr.tx.Load(),
		TxCompleted: p.ctr.txDone.Load(),
		TxKicks:     p.ctr.txKicks.Load(),
		RxKicks:     p.ctr.rxKicks.Load(),
		BadFrames:   p.ctr.bad.Load(),
	}
	if k, err := p.s.kernelStats(); err == nil {
		s.RxDropped = k.Rx_dropped
		s.RxInvalidDescs = k.Rx_invalid_descs
		s.TxInvalidDescs = k.Tx_invalid_descs
		s.RxRingFull = k.Rx_ring_full
		s.FillRingEmpty = k.Rx_fill_ring_empty_descs
		s.TxRingEmpty = k.Tx_ring_empty_descs
	}
	return s
}

func (s Stats) String() string {
	return fmt.Sprintf("rx=%d tx=%d txdone=%d txkicks=%d rxkicks=%d bad=%d | kernel: rx_dropped=%d rx_invalid=%d tx_invalid=%d rx_ring_full=%d fill_empty=%d tx_empty=%d",
		s.RxPackets, s.TxPackets, s.TxCompleted, s.TxKicks, s.RxKicks, s.BadFrames,
		s.RxDropped, s.RxInvalidDescs, s.TxInvalidDescs, s.RxRingFull, s.FillRingEmpty, s.TxRingEmpty)
}
