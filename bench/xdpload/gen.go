package xdpload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// GenSpec says how the generator rewrites its template frame per packet.
type GenSpec struct {
	// Flows distinct flows: packet i gets source port BasePort + i%Flows.
	Flows    int
	BasePort uint16
	// SportOff is the offset of the flow's (inner) UDP source port.
	SportOff int
	// OuterSportOff, when > 0, is the outer UDP source port of a Geneve
	// frame: it follows the flow (49152 + i%Flows) so that the underlay
	// sees per-flow entropy as from a real chassis.
	OuterSportOff int
	// PayloadOff is where the magic is; the timestamp follows it.
	PayloadOff int
	// IPv6 says the (inner) datagram at SportOff is UDP over IPv6, whose
	// checksum is mandatory (RFC 8200 §8.1): the template carries a valid
	// one, and each packet gets a compensation word at
	// PayloadOff+CompOff that cancels, in the ones' complement sum, what
	// the port rewrite and the timestamp changed, so the checksum in the
	// template stays right without being recomputed (and an outer UDP
	// checksum that covers the inner datagram stays right too).
	IPv6 bool
}

// need is how many bytes from PayloadOff the generator writes.
func (s GenSpec) need() int {
	if s.IPv6 {
		return CompOff + 2
	}
	return payloadNeed
}

// Generator is the dperf-like load generator: an XDP program that rewrites
// a template frame into flow i%Flows, stamps it and returns XDP_TX, run with
// BPF_PROG_RUN in live-frames mode so every run becomes a real frame out of
// the interface given as ingress (a veth: it lands on the peer). Where the
// kernel refuses live frames, Send writes the same frames into an AF_XDP
// socket's TX ring instead (Backend, afxdp.go).
//
// Headers: every run first copies the template's bytes up to the payload
// back over the frame. Live-frames mode initialises a page's data only when
// the page is first allocated; a page that comes back to the page pool (the
// frame was redirected, transmitted and freed by the receiver) keeps
// whatever the receiving XDP programs wrote into it. A gateway's fast path
// that decapsulates and NATs in place would otherwise get its own output
// back as the next "template".
//
// Checksums: an IPv4 template's UDP checksums are zero (no checksum,
// allowed over IPv4 for both the outer Geneve UDP and the inner UDP), so
// rewriting ports and stamping needs no checksum update; the IPv4 headers
// do not change. An IPv6 template (GenSpec.IPv6) carries valid checksums
// and the program writes a compensation word (CompOff) that keeps them
// valid.
type Generator struct {
	prog    *ebpf.Program
	counter *ebpf.Map
	tmpl    *ebpf.Map // the template's headers, [0, PayloadOff)
	spec    GenSpec
	backend Backend // "" = DefaultBackend
}

// NewGenerator builds the program for spec and the template frame.
func NewGenerator(spec GenSpec, frame []byte) (*Generator, error) {
	frameLen := len(frame)
	if spec.Flows <= 0 || spec.Flows > 65535-int(spec.BasePort)+1 {
		return nil, fmt.Errorf("xdpload: %d flows from port %d do not fit", spec.Flows, spec.BasePort)
	}
	if spec.PayloadOff+spec.need() > frameLen || spec.SportOff+2 > frameLen {
		return nil, errors.New("xdpload: template frame too short")
	}
	hdrLen := spec.PayloadOff
	tmpl, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xgwb_gen_tmpl", Type: ebpf.Array,
		KeySize: 4, ValueSize: uint32((hdrLen + 7) &^ 7), MaxEntries: 1})
	if err != nil {
		return nil, err
	}
	val := make([]byte, (hdrLen+7)&^7)
	copy(val, frame[:hdrLen])
	if err := tmpl.Put(uint32(0), val); err != nil {
		tmpl.Close()
		return nil, err
	}
	counter, err := newPerCPUArray("xgwb_gen_seq", 8, 1)
	if err != nil {
		tmpl.Close()
		return nil, err
	}
	insns := loadPkt(int32(spec.PayloadOff+spec.need()), "short")
	// Restore the headers from the template (map value in r0).
	insns = append(insns,
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, tmpl.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "short"),
	)
	for off := 0; off < hdrLen; {
		size, n := asm.DWord, 8
		switch {
		case hdrLen-off >= 8:
		case hdrLen-off >= 4:
			size, n = asm.Word, 4
		case hdrLen-off >= 2:
			size, n = asm.Half, 2
		default:
			size, n = asm.Byte, 1
		}
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.R0, int16(off), size),
			asm.StoreMem(asm.R7, int16(off), asm.R1, size))
		off += n
	}
	insns = append(insns, perCPUSlot(counter, 0, "short")...)
	insns = append(insns,
		asm.LoadMem(asm.R9, asm.R0, 0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mod.Imm(asm.R9, int32(spec.Flows)),
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.Add.Imm(asm.R1, int32(spec.BasePort)),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.R7, int16(spec.SportOff), asm.R1, asm.Half),
	)
	if spec.OuterSportOff > 0 {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R9),
			asm.And.Imm(asm.R1, 0x3fff),
			asm.Add.Imm(asm.R1, 49152),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.StoreMem(asm.R7, int16(spec.OuterSportOff), asm.R1, asm.Half),
		)
	}
	insns = append(insns,
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R7, int16(spec.PayloadOff+TimestampOff), asm.R0, asm.DWord),
	)
	if spec.IPv6 {
		insns = append(insns, compensate(spec, frame)...)
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
	)
	insns = append(insns, labelled("short", retImm(xdpDrop))...)
	prog, err := newProgram("xgwb_gen", insns)
	if err != nil {
		counter.Close()
		tmpl.Close()
		return nil, fmt.Errorf("xdpload: generator: %w", err)
	}
	return &Generator{prog: prog, counter: counter, tmpl: tmpl, spec: spec}, nil
}

// compensate writes the word at PayloadOff+CompOff that brings the ones'
// complement sum of the rewritten words (the inner source port and the
// four words of the timestamp) back to the template's: c = T0 - S1, where
// T0 is the template's source port word and S1 the sum of the words now in
// the frame, both as loaded in host order (a ones' complement sum does not
// depend on byte order: RFC 1071 §2(B)). The template's compensation word
// and timestamp are 0. Clobbers r1, r2.
func compensate(spec GenSpec, frame []byte) asm.Instructions {
	t0 := int32(binary.NativeEndian.Uint16(frame[spec.SportOff:]))
	insns := asm.Instructions{asm.LoadMem(asm.R1, asm.R7, int16(spec.SportOff), asm.Half)}
	for w := 0; w < 8; w += 2 {
		insns = append(insns,
			asm.LoadMem(asm.R2, asm.R7, int16(spec.PayloadOff+TimestampOff+w), asm.Half),
			asm.Add.Reg(asm.R1, asm.R2))
	}
	// r1 <= 5*0xffff: T0 + 5*0xffff - r1 is >= 0 and = T0 - S1 mod 0xffff.
	insns = append(insns,
		asm.Mov.Imm(asm.R2, t0+5*0xffff),
		asm.Sub.Reg(asm.R2, asm.R1),
	)
	for range 2 { // fold the carries: at most 19 bits, then 17
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R2),
			asm.RSh.Imm(asm.R1, 16),
			asm.And.Imm(asm.R2, 0xffff),
			asm.Add.Reg(asm.R2, asm.R1))
	}
	return append(insns, asm.StoreMem(asm.R7, int16(spec.PayloadOff+CompOff), asm.R2, asm.Half))
}

// Compensate is compensate in Go, for the AF_XDP backend (and tests): b is
// a frame built from template tmpl and rewritten per flow and stamped.
func Compensate(spec GenSpec, tmpl, b []byte) {
	s := uint32(binary.NativeEndian.Uint16(b[spec.SportOff:]))
	for w := 0; w < 8; w += 2 {
		s += uint32(binary.NativeEndian.Uint16(b[spec.PayloadOff+TimestampOff+w:]))
	}
	c := uint32(binary.NativeEndian.Uint16(tmpl[spec.SportOff:])) + 5*0xffff - s
	c = c&0xffff + c>>16
	c = c&0xffff + c>>16
	binary.NativeEndian.PutUint16(b[spec.PayloadOff+CompOff:], uint16(c))
}

// Close releases the program and its map.
func (g *Generator) Close() error {
	return errors.Join(g.prog.Close(), g.counter.Close(), g.tmpl.Close())
}

// xdpMd mirrors struct xdp_md: BPF_PROG_RUN takes the ingress interface
// from it, and live frames are transmitted (XDP_TX) out of that interface.
// The kernel insists that DataEnd equal the frame length.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Pacing is how a Send loop spreads its packets.
type Pacing struct {
	Rate     float64       // packets per second; 0 = as fast as the kernel goes
	Duration time.Duration // how long to send
	CPU      int           // pin the sending thread to this CPU; -1 = no pinning
	// Progress, if set, is called about every 100 ms with the packets sent.
	Progress func(sent uint64)
}

// Send transmits frame out of ifindex, rewritten per flow, until p.Duration
// has passed, and returns the number of frames handed to the kernel. It must
// run on a thread inside the namespace that holds ifindex (BPF_PROG_RUN
// resolves the index in the caller's namespace); it locks its thread.
// Where the kernel refuses live frames (LiveFrames), the same frames go out
// through an AF_XDP socket on the interface instead (Backend tells which).
func (g *Generator) Send(frame []byte, ifindex int, p Pacing) (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if p.CPU >= 0 {
		var set unix.CPUSet
		set.Set(p.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return 0, fmt.Errorf("xdpload: pin to CPU %d: %w", p.CPU, err)
		}
		defer func() {
			var all unix.CPUSet
			for i := 0; i < runtime.NumCPU(); i++ {
				all.Set(i)
			}
			unix.SchedSetaffinity(0, &all)
		}()
	}
	if g.Backend() == BackendAFXDP {
		tx, err := newAFXDPTX(g.spec, frame, ifindex)
		if err != nil {
			return 0, err
		}
		defer tx.close()
		return pace(p, tx.burst)
	}
	return pace(p, func(n uint64, _ time.Time) (uint64, error) {
		_, err := g.prog.Run(&ebpf.RunOptions{
			Data:    frame,
			Repeat:  uint32(n),
			Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			Context: xdpMd{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)},
		})
		if err != nil {
			return 0, fmt.Errorf("xdpload: BPF_PROG_RUN live frames: %w", err)
		}
		return n, nil
	})
}

// Backend is the way Send transmits.
func (g *Generator) Backend() Backend {
	if g.backend == "" {
		return DefaultBackend()
	}
	return g.backend
}

// UseBackend makes Send transmit with b instead of DefaultBackend's choice.
func (g *Generator) UseBackend(b Backend) { g.backend = b }

// pace calls burst until p.Duration has passed and returns what it sent.
// One BPF_PROG_RUN call is a burst. Each call costs milliseconds of fixed
// overhead in the kernel (live-frames mode sets up and tears down a page
// pool and memory model per call), so unpaced bursts grow until a call
// takes ~50 ms; they shrink to fit the time left, so the deadline holds.
// Paced bursts are what is due, at most 50 ms' worth.
func pace(p Pacing, burst func(n uint64, deadline time.Time) (uint64, error)) (uint64, error) {
	const minBurst, maxBurst = 1024, 1 << 22
	size := uint64(minBurst)
	start := time.Now()
	deadline := start.Add(p.Duration)
	lastProgress := start
	var sent uint64
	for {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		n := size
		if p.Rate > 0 {
			due := uint64(p.Rate * now.Sub(start).Seconds())
			if due <= sent {
				time.Sleep(time.Millisecond)
				continue
			}
			n = min(due-sent, max(uint64(p.Rate/20), 64))
		} else if el := now.Sub(start).Seconds(); sent > 0 && el > 0 {
			left := uint64(float64(sent) / el * deadline.Sub(now).Seconds())
			n = max(min(n, left), 64)
		}
		t0 := time.Now()
		got, err := burst(n, deadline)
		sent += got
		if err != nil {
			return sent, err
		}
		if took := time.Since(t0); p.Rate <= 0 && n == size {
			if took < 50*time.Millisecond && size < maxBurst {
				size *= 2
			} else if took > 200*time.Millisecond && size > minBurst {
				size /= 2
			}
		}
		if p.Progress != nil && now.Sub(lastProgress) >= 100*time.Millisecond {
			p.Progress(sent)
			lastProgress = now
		}
	}
	return sent, nil
}

// Prog is the generator's program (tests run it without live frames).
func (g *Generator) Prog() *ebpf.Program { return g.prog }
