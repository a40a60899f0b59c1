package xdpload

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Count is a packet and byte count summed over CPUs.
type Count struct{ Packets, Bytes uint64 }

// Counter is an XDP program with a per-CPU {packets, bytes} counter: the
// sink, the reflector and the return counter. Counting in XDP keeps the
// counter from being the bottleneck: the frame is dropped (or bounced) in
// the driver and never allocates an skb.
type Counter struct {
	Prog  *ebpf.Program
	count *ebpf.Map
	hist  *ebpf.Map // return counter only
	// BucketNS is the width of one RTT histogram bucket.
	BucketNS uint64
}

// Close releases the program and maps.
func (c *Counter) Close() error {
	err := errors.Join(c.Prog.Close(), c.count.Close())
	if c.hist != nil {
		err = errors.Join(err, c.hist.Close())
	}
	return err
}

// Read sums the counter over CPUs.
func (c *Counter) Read() (Count, error) { return c.ReadSlot(0) }

// ReadSlot sums counter slot i over CPUs (NewSink6 keeps three).
func (c *Counter) ReadSlot(i uint32) (Count, error) {
	var per []Count
	if err := c.count.Lookup(i, &per); err != nil {
		return Count{}, err
	}
	var s Count
	for _, p := range per {
		s.Packets += p.Packets
		s.Bytes += p.Bytes
	}
	return s, nil
}

// HistBuckets is the RTT histogram's size; the last bucket collects
// everything slower.
const HistBuckets = 2048

// Histogram sums the RTT histogram over CPUs (nil for counters without).
func (c *Counter) Histogram() ([]uint64, error) {
	if c.hist == nil {
		return nil, nil
	}
	out := make([]uint64, HistBuckets)
	for i := range out {
		var per []uint64
		if err := c.hist.Lookup(uint32(i), &per); err != nil {
			return nil, err
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

// NewSink counts and drops every IPv4 UDP frame and passes the rest (ARP,
// so that the gateway can resolve the sink's address).
func NewSink() (*Counter, error) {
	m, err := newPerCPUArray("xgwb_sink", 16, 1)
	if err != nil {
		return nil, err
	}
	insns := loadPkt(34, "pass")
	insns = append(insns, isIPv4UDP("pass")...)
	insns = append(insns, perCPUSlot(m, 0, "pass")...)
	insns = append(insns, countFrame()...)
	insns = append(insns, retImm(xdpDrop)...)
	insns = append(insns, labelled("pass", retImm(xdpPass))...)
	p, err := newProgram("xgwb_sink", insns)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("xdpload: sink: %w", err)
	}
	return &Counter{Prog: p, count: m}, nil
}

// Slots of NewSink6's counter.
const (
	// Sink6FromSrc counts the generator's IPv6 UDP frames from the
	// expected source (the NAT66 address): what the gateway delivered.
	Sink6FromSrc = 0
	// Sink6Other counts the generator's IPv6 UDP frames from any other
	// source (a gateway that did not translate, or translated wrongly).
	Sink6Other = 1
	// Sink6Sampled counts the frames of Sink6FromSrc that were passed to
	// the stack instead of dropped (one in Sink6Every), so that the
	// kernel's UDP checks their checksum (Udp6InCsumErrors) and a socket
	// can receive them.
	Sink6Sampled = 2
	// Sink6Every is the sampling period of Sink6Sampled.
	Sink6Every = 1024
)

// NewSink6 is the sink of the IPv6 one-way scenarios: it counts
// Ethernet/IPv6/UDP frames with the generator's magic (Plain6PayloadOff)
// by source address (src or other, dropped) and passes every
// Sink6Every-th frame from src to the stack; everything else passes
// (neighbour discovery, other traffic). Counting in XDP keeps the sink out
// of the way at rates a socket could not read.
func NewSink6(src [16]byte) (*Counter, error) {
	m, err := newPerCPUArray("xgwb_sink6", 16, 3)
	if err != nil {
		return nil, err
	}
	insns := loadPkt(Plain6PayloadOff+payloadNeed, "pass")
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.R7, 12, asm.Half),
		asm.JNE.Imm(asm.R1, 0xdd86, "pass"), // htons(ETH_P_IPV6) read little-endian
		asm.LoadMem(asm.R1, asm.R7, 20, asm.Byte),
		asm.JNE.Imm(asm.R1, 17, "pass"),
	)
	insns = append(insns, magicAt(Plain6PayloadOff, "magic", "pass")...)
	insns = append(insns, labelled("magic", asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, 22, asm.DWord),
		asm.LoadImm(asm.R2, int64(binary.NativeEndian.Uint64(src[0:])), asm.DWord),
		asm.JNE.Reg(asm.R1, asm.R2, "other"),
		asm.LoadMem(asm.R1, asm.R7, 30, asm.DWord),
		asm.LoadImm(asm.R2, int64(binary.NativeEndian.Uint64(src[8:])), asm.DWord),
		asm.JNE.Reg(asm.R1, asm.R2, "other"),
	})...)
	insns = append(insns, perCPUSlot(m, Sink6FromSrc, "drop")...)
	insns = append(insns, countFrame()...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.And.Imm(asm.R1, Sink6Every-1),
		asm.JNE.Imm(asm.R1, 0, "drop"),
	)
	insns = append(insns, perCPUSlot(m, Sink6Sampled, "pass")...)
	insns = append(insns, countFrame()...)
	insns = append(insns, asm.Ja.Label("pass"))
	insns = append(insns, labelled("other", perCPUSlot(m, Sink6Other, "drop"))...)
	insns = append(insns, countFrame()...)
	insns = append(insns, labelled("drop", retImm(xdpDrop))...)
	insns = append(insns, labelled("pass", retImm(xdpPass))...)
	p, err := newProgram("xgwb_sink6", insns)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("xdpload: IPv6 sink: %w", err)
	}
	return &Counter{Prog: p, count: m}, nil
}

// NewReflector bounces every generator frame (magic at either payload
// offset) back where it came from: it swaps Ethernet addresses, IPv4
// addresses and UDP ports of the outermost headers and returns XDP_TX. A
// swap leaves every checksum valid. It is dperf's server side: the request
// is answered in the driver, so the reflector is not what limits the
// request/response rate. Other frames pass.
func NewReflector() (*Counter, error) {
	m, err := newPerCPUArray("xgwb_refl", 16, 1)
	if err != nil {
		return nil, err
	}
	insns := loadPkt(42, "pass")
	insns = append(insns, isIPv4UDP("pass")...)
	insns = append(insns, magicAt(PlainPayloadOff, "hit", "try_geneve")...)
	insns = append(insns, labelled("try_geneve", magicAt(GenevePayloadOff, "hit", "pass"))...)
	hit := asm.Instructions{
		// Ethernet: dst (0..5) <-> src (6..11), as 4+2 bytes each.
		asm.LoadMem(asm.R1, asm.R7, 0, asm.Word),
		asm.LoadMem(asm.R2, asm.R7, 6, asm.Word),
		asm.StoreMem(asm.R7, 0, asm.R2, asm.Word),
		asm.StoreMem(asm.R7, 6, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R7, 4, asm.Half),
		asm.LoadMem(asm.R2, asm.R7, 10, asm.Half),
		asm.StoreMem(asm.R7, 4, asm.R2, asm.Half),
		asm.StoreMem(asm.R7, 10, asm.R1, asm.Half),
		// IPv4 src (26) <-> dst (30); the header has no options (the
		// generator's and every gateway's own).
		asm.LoadMem(asm.R1, asm.R7, 26, asm.Word),
		asm.LoadMem(asm.R2, asm.R7, 30, asm.Word),
		asm.StoreMem(asm.R7, 26, asm.R2, asm.Word),
		asm.StoreMem(asm.R7, 30, asm.R1, asm.Word),
		// UDP sport (34) <-> dport (36).
		asm.LoadMem(asm.R1, asm.R7, 34, asm.Half),
		asm.LoadMem(asm.R2, asm.R7, 36, asm.Half),
		asm.StoreMem(asm.R7, 34, asm.R2, asm.Half),
		asm.StoreMem(asm.R7, 36, asm.R1, asm.Half),
	}
	insns = append(insns, labelled("hit", hit)...)
	insns = append(insns, perCPUSlot(m, 0, "tx")...)
	insns = append(insns, countFrame()...)
	insns = append(insns, labelled("tx", retImm(xdpTX))...)
	insns = append(insns, labelled("pass", retImm(xdpPass))...)
	p, err := newProgram("xgwb_refl", insns)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("xdpload: reflector: %w", err)
	}
	return &Counter{Prog: p, count: m}, nil
}

// NewReturnCounter counts and drops the generator's frames that come back
// (reflected answers) on the generator's interface, and adds now minus the
// generator's timestamp to an RTT histogram of bucketNS-wide buckets. Other
// frames pass (the hypervisor's OVS keeps working).
func NewReturnCounter(bucketNS uint64) (*Counter, error) {
	if bucketNS == 0 || bucketNS > 1<<31 {
		return nil, errors.New("xdpload: bad bucket width")
	}
	m, err := newPerCPUArray("xgwb_ret", 16, 1)
	if err != nil {
		return nil, err
	}
	h, err := newPerCPUArray("xgwb_rtt", 8, HistBuckets)
	if err != nil {
		m.Close()
		return nil, err
	}
	insns := loadPkt(42, "pass")
	insns = append(insns, isIPv4UDP("pass")...)
	insns = append(insns, magicAt(GenevePayloadOff, "hit_geneve", "try_plain")...)
	insns = append(insns, labelled("try_plain", magicAt(PlainPayloadOff, "hit_plain", "pass"))...)
	// r9 = the timestamp's offset, then a common tail.
	insns = append(insns, labelled("hit_geneve", asm.Instructions{
		asm.LoadMem(asm.R9, asm.R7, GenevePayloadOff+TimestampOff, asm.DWord),
		asm.Ja.Label("stamp"),
	})...)
	insns = append(insns, labelled("hit_plain", asm.Instructions{
		asm.LoadMem(asm.R9, asm.R7, PlainPayloadOff+TimestampOff, asm.DWord),
	})...)
	insns = append(insns, labelled("stamp", perCPUSlot(m, 0, "drop"))...)
	insns = append(insns, countFrame()...)
	insns = append(insns,
		asm.FnKtimeGetNs.Call(),
		asm.Sub.Reg(asm.R0, asm.R9),
		asm.Div.Imm(asm.R0, int32(bucketNS)),
		asm.JLT.Imm(asm.R0, HistBuckets, "bucket"),
		asm.Mov.Imm(asm.R0, HistBuckets-1),
		asm.StoreMem(asm.RFP, -8, asm.R0, asm.Word).WithSymbol("bucket"),
		asm.LoadMapPtr(asm.R1, h.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	)
	insns = append(insns, labelled("drop", retImm(xdpDrop))...)
	insns = append(insns, labelled("pass", retImm(xdpPass))...)
	p, err := newProgram("xgwb_ret", insns)
	if err != nil {
		m.Close()
		h.Close()
		return nil, fmt.Errorf("xdpload: return counter: %w", err)
	}
	return &Counter{Prog: p, count: m, hist: h, BucketNS: bucketNS}, nil
}

// Ceiling is the best any XDP gateway can do on these interfaces: every
// frame is redirected, untouched, to the other interface through a devmap.
type Ceiling struct {
	Prog *ebpf.Program
	dev  *ebpf.Map
}

// NewCeiling builds a redirect-to-ifindex program (one per direction). Call
// it on a thread in the namespace of toIfindex: the devmap entry is
// resolved in the writer's network namespace.
func NewCeiling(toIfindex int) (*Ceiling, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xgwb_ceil", Type: ebpf.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return nil, err
	}
	if err := m.Put(uint32(0), uint32(toIfindex)); err != nil {
		m.Close()
		return nil, err
	}
	insns := asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Imm(asm.R3, xdpDrop), // verdict if the slot is empty
		asm.FnRedirectMap.Call(),
		asm.Return(),
	}
	p, err := newProgram("xgwb_ceil", insns)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("xdpload: ceiling: %w", err)
	}
	return &Ceiling{Prog: p, dev: m}, nil
}

// Close releases the program and its devmap.
func (c *Ceiling) Close() error { return errors.Join(c.Prog.Close(), c.dev.Close()) }

// NewPass is a one-line XDP_PASS: a veth only accepts redirected or XDP_TX'd
// frames when its peer runs an XDP program.
func NewPass() (*ebpf.Program, error) {
	return newProgram("xgwb_pass", retImm(xdpPass))
}

// labelled puts sym on the first instruction of insns.
func labelled(sym string, insns asm.Instructions) asm.Instructions {
	insns[0] = insns[0].WithSymbol(sym)
	return insns
}
