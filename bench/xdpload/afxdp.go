package xdpload

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/packet"
)

// Backend is how Send puts frames on the wire.
type Backend string

const (
	// BackendLive runs the generator program with BPF_PROG_RUN in
	// live-frames mode: each run XDP_TXes a real frame from the driver.
	BackendLive Backend = "bpf-live-frames"
	// BackendAFXDP writes the same per-flow frames into the TX ring of an
	// AF_XDP socket on the interface. Kernels (or sandboxes) that refuse
	// live frames still allow it; it costs a syscall per 32 frames.
	BackendAFXDP Backend = "afxdp-tx"
)

var liveOnce struct {
	sync.Once
	err error
}

// LiveFrames reports whether this kernel runs XDP programs with
// BPF_F_TEST_XDP_LIVE_FRAMES, and if not, why. The probe runs an
// XDP_DROP program once, so it sends nothing.
func LiveFrames() error {
	liveOnce.Do(func() {
		p, err := newProgram("xgwb_probe", retImm(xdpDrop))
		if err != nil {
			liveOnce.err = fmt.Errorf("xdpload: probe program: %w", err)
			return
		}
		defer p.Close()
		_, err = p.Run(&ebpf.RunOptions{Data: make([]byte, 64), Repeat: 1, Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES})
		if err != nil {
			liveOnce.err = fmt.Errorf("xdpload: the kernel refuses BPF_PROG_RUN live frames: %w", err)
		}
	})
	return liveOnce.err
}

// DefaultBackend is live frames where the kernel allows them, else AF_XDP.
func DefaultBackend() Backend {
	if LiveFrames() == nil {
		return BackendLive
	}
	return BackendAFXDP
}

// afxdpTX is the AF_XDP backend: a copy-mode socket on queue 0 of the
// interface, its UMEM chunks filled from the template and rewritten per
// packet as the generator program does (flow source ports, the timestamp
// from the clock bpf_ktime_get_ns reads). Unlike the program it also gives
// the (inner) UDP datagram over IPv4 a valid checksum, as a Linux sender
// would (an IPv6 one keeps its valid one with the program's compensation
// word, GenSpec.IPv6): a
// gateway whose fast path encapsulates with an outer UDP checksum derives
// it from the inner one, and punts datagrams that have none.
type afxdpTX struct {
	port   afxdp.Port
	spec   GenSpec
	frame  []byte
	seq    uint64
	frames []afxdp.Frame
}

const afxdpBatch = 64

func newAFXDPTX(spec GenSpec, frame []byte, ifindex int) (*afxdpTX, error) {
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("xdpload: AF_XDP TX: %w", err)
	}
	// TX only: the fill and RX rings stay small so that most chunks carry
	// frames out.
	p, err := afxdp.Open(ifi.Name, 0, afxdp.Config{NumFrames: 4096, FillRingSize: 64, RxRingSize: 64, Mode: afxdp.ModeCopy})
	if err != nil {
		return nil, fmt.Errorf("xdpload: AF_XDP TX: %w", err)
	}
	return &afxdpTX{port: p, spec: spec, frame: frame, frames: make([]afxdp.Frame, afxdpBatch)}, nil
}

// burst transmits n frames (or fewer if the deadline passes first, with
// the TX ring full) and returns how many the kernel took.
func (a *afxdpTX) burst(n uint64, deadline time.Time) (uint64, error) {
	var sent uint64
	var ts unix.Timespec
	for sent < n {
		if time.Now().After(deadline) {
			return sent, nil
		}
		want := min(n-sent, afxdpBatch)
		got := a.port.Alloc(a.frames[:want])
		if got == 0 {
			// Every chunk is in the kernel: wait for completions.
			if err := a.port.Poll(100 * time.Microsecond); err != nil {
				return sent, err
			}
			continue
		}
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		now := uint64(ts.Nano())
		for i := range a.frames[:got] {
			f := &a.frames[i]
			b := a.port.Buf(f)[f.Off:]
			copy(b, a.frame)
			f.Len = len(a.frame)
			flow := a.seq % uint64(a.spec.Flows)
			a.seq++
			binary.BigEndian.PutUint16(b[a.spec.SportOff:], uint16(flow)+a.spec.BasePort)
			if a.spec.OuterSportOff > 0 {
				binary.BigEndian.PutUint16(b[a.spec.OuterSportOff:], uint16(flow&0x3fff)+49152)
			}
			binary.NativeEndian.PutUint64(b[a.spec.PayloadOff+TimestampOff:], now)
			if a.spec.IPv6 {
				Compensate(a.spec, a.frame, b)
			} else {
				setUDPChecksum(b[:f.Len], a.spec.SportOff)
			}
		}
		tx, err := a.port.Transmit(a.frames[:got])
		if tx < got {
			a.port.Release(a.frames[tx:got])
		}
		sent += uint64(tx)
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func (a *afxdpTX) close() error {
	// Let the kernel finish what is queued before the UMEM goes.
	for i := 0; i < 20; i++ {
		if st := a.port.Stats(); st.TxCompleted >= st.TxPackets {
			break
		}
		a.port.Poll(time.Millisecond)
	}
	return a.port.Close()
}

// setUDPChecksum fills in the checksum of the UDP datagram at udpOff of
// frame, after an IPv4 header without options.
func setUDPChecksum(frame []byte, udpOff int) {
	ip := packet.IPv4(frame[udpOff-packet.IPv4MinLen:])
	u := packet.UDP(frame[udpOff:])
	u = u[:min(len(u), int(u.Length()))]
	u.SetChecksum(u.ComputeChecksum(ip.Src(), ip.Dst()))
}
