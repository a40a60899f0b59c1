// Package xdpload holds the benchmark's own XDP programs: the dperf-like
// generator run with BPF_PROG_RUN live frames, the sink and the reflector in
// ns ext, the return counter (with an RTT histogram) on the generator's side
// and the redirect-only "ceiling" gateway.
//
// They are written with cilium/ebpf's asm package rather than C so that the
// harness needs no clang and no generated objects, and so that per-run
// numbers (flow count, offsets, interface index) become plain immediates.
package xdpload

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// XDP verdicts.
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4
)

// Magic marks the generator's payload: the first 8 bytes of every UDP
// payload it sends, read as a little-endian u64 ("XGWBENCH"). Sink, reflector
// and return counter only act on frames that carry it at a known offset.
const Magic uint64 = 0x48434e4542574758

// Payload offsets of the magic in the two frame layouts the generator sends:
// Geneve (58 bytes of encap + 14 eth + 20 IPv4 + 8 UDP) and plain UDP.
const (
	GenevePayloadOff = 100
	PlainPayloadOff  = 42
	// TimestampOff is where, after the magic, the generator writes
	// bpf_ktime_get_ns (host order) for the RTT histogram.
	TimestampOff = 8
	payloadNeed  = 16
	// CompOff is where an IPv6 frame's checksum compensation word sits
	// after the magic and timestamp (GenSpec.IPv6).
	CompOff = 16
)

// Payload offsets of the magic in the IPv6 layouts: IPv6 inner over the
// IPv4 underlay (58 of encap + 14 eth + 40 IPv6 + 8 UDP), over the IPv6
// underlay (78 of encap + 62), and where an IPv6 sink finds it after
// NAT66 (14 + 40 + 8).
const (
	Geneve6PayloadOff   = 120
	Geneve6o6PayloadOff = 140
	Plain6PayloadOff    = 62
)

// loadPkt puts data in r7 and data_end in r8 (ctx in r6) and jumps to label
// when the frame is shorter than need bytes: the verifier's bounds check.
func loadPkt(need int32, short string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, need),
		asm.JGT.Reg(asm.R2, asm.R8, short),
	}
}

// perCPUSlot leaves a pointer to slot key of the per-CPU array m in r0, or
// jumps to miss. Clobbers r1-r5.
func perCPUSlot(m *ebpf.Map, key int32, miss string) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, -4, int64(key), asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, miss),
	}
}

// countFrame adds one packet and the frame's length to the {packets, bytes}
// pair that r0 points at. The array is per CPU, so no atomics are needed.
func countFrame() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Sub.Reg(asm.R2, asm.R7),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
	}
}

// isIPv4UDP jumps to not unless the frame (r7, at least 34 bytes checked by
// the caller) is Ethernet/IPv4/UDP. Clobbers r1.
func isIPv4UDP(not string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, 12, asm.Half),
		asm.JNE.Imm(asm.R1, 0x0008, not), // htons(ETH_P_IP) read little-endian
		asm.LoadMem(asm.R1, asm.R7, 23, asm.Byte),
		asm.JNE.Imm(asm.R1, 17, not),
	}
}

// magicAt jumps to found when the generator's magic sits at off, and to
// next when the frame is too short for it or carries something else.
// Clobbers r1, r2.
func magicAt(off int32, found, next string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, off+payloadNeed),
		asm.JGT.Reg(asm.R2, asm.R8, next),
		asm.LoadMem(asm.R1, asm.R7, int16(off), asm.DWord),
		asm.LoadImm(asm.R2, int64(Magic), asm.DWord),
		asm.JEq.Reg(asm.R1, asm.R2, found),
		asm.Ja.Label(next),
	}
}

func retImm(v int32) asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, v), asm.Return()}
}

func newProgram(name string, insns asm.Instructions) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.XDP,
		Instructions: insns,
		License:      "GPL",
	})
}

func newPerCPUArray(name string, valueSize, entries uint32) (*ebpf.Map, error) {
	return ebpf.NewMap(&ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  valueSize,
		MaxEntries: entries,
	})
}
