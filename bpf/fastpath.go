package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// DefaultFlowCapacity is the size of the flows map when
// Options.FlowCapacity is 0: 32k connections, both directions. A miss in
// the map (every packet the fast path does not take) costs more the
// larger it is (BenchmarkXDP/miss-size=*), so it is sized for what is
// expected to be offloaded, not for the worst case.
const DefaultFlowCapacity = 65536

// Errors of the FastPath API.
var (
	// ErrFull: the flows map holds FlowCapacity entries; the flow stays in
	// software.
	ErrFull = errors.New("bpf: fast-path flow table full")
	// ErrNotFound: no entry for that key.
	ErrNotFound = errors.New("bpf: no such fast-path flow")
)

// fp_action.flags (include/flow.h).
const (
	flagDecap     = 0x01
	flagEncap     = 0x02
	flagNAT       = 0x04
	flagOuterCsum = 0x08
	flagOutport   = 0x10
)

// ICMP echo types, the only ICMP a flow carries.
const (
	icmpEchoReply   = 0
	icmpEchoRequest = 8
)

// FastPath installs, removes and reads offloaded flows. It is safe for
// concurrent use (every call is one or a few syscalls on the maps).
// Two Objects that share their fast-path maps (Options.Share, or the same
// Options.PinPath) return FastPaths over the same flows.
type FastPath struct {
	flows, used, tx, vteps, vtepsGen *ebpf.Map
	flows6, used6, vteps6            *ebpf.Map // fastpath6.go
}

// FastPath returns the fast-path API over o's maps.
func (o *Objects) FastPath() *FastPath {
	return &FastPath{flows: o.objs.XgwFlows, used: o.objs.XgwFlowsUsed, tx: o.objs.XgwTxPorts, vteps: o.objs.XgwVteps, vtepsGen: o.objs.XgwVtepsGen,
		flows6: o.objs.XgwFlows6, used6: o.objs.XgwFlows6Used, vteps6: o.objs.XgwVteps6}
}

// usedMu orders the writes of xgw_flows_used with the installs and
// removals that decide them, across every FastPath of the process (they
// may share maps): an install marks the map used before it writes, and
// a removal clears the mark only if the map is then empty, so the program
// never skips a lookup that could hit.
var usedMu sync.Mutex

func (f *FastPath) setUsed(v uint32) error {
	if err := f.used.Put(uint32(0), v); err != nil {
		return fmt.Errorf("bpf: set xgw_flows_used: %w", err)
	}
	return nil
}

// syncUsed makes xgw_flows_used and xgw_flows6_used say whether their
// maps hold anything (flows pinned by an earlier run, or an operator's).
func (f *FastPath) syncUsed() error {
	usedMu.Lock()
	defer usedMu.Unlock()
	if err := f.clearIfEmpty(true); err != nil {
		return err
	}
	return f.clearIfEmpty6(true)
}

// clearIfEmpty sets xgw_flows_used to whether the map holds an entry;
// with orSet false it only ever clears. Called with usedMu held.
func (f *FastPath) clearIfEmpty(orSet bool) error {
	var k gwFpKey
	err := f.flows.NextKey(nil, &k)
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return f.setUsed(0)
	case err != nil:
		return fmt.Errorf("bpf: is xgw_flows empty: %w", err)
	case orSet:
		return f.setUsed(1)
	}
	return nil
}

// MaxVTEPs is the size of the VTEP set (xgw_vteps).
const MaxVTEPs = 4096

// SetVTEPs makes the set of outer IPv4 sources the fast path accepts
// Geneve from exactly ips: the known chassis' VTEPs, the set the software
// pipeline checks. Geneve from any other source is not forwarded by the
// fast path, whatever flow it carries: it punts (PuntUnknownVTEP) to the
// AF_XDP socket and software drops it (geneve-unknown-source). An empty
// set fails closed: no Geneve is fast-forwarded. 0.0.0.0 is never a VTEP
// and is skipped; duplicates are fine.
//
// Extra addresses are deleted before missing ones are added, so that
// during the change the map never holds an address that neither the old
// nor the new set has, and a removed chassis stops being accepted first.
// More than MaxVTEPs distinct addresses are refused (ErrFull) with the
// map unchanged. After a removal the generation xgw_vteps_gen is bumped,
// so that no flow's cached check (include/vtepcache.h) still accepts a
// removed source.
func (f *FastPath) SetVTEPs(ips []packet.IP4) error {
	want := make(map[packet.IP4]bool, len(ips))
	for _, ip := range ips {
		if ip != (packet.IP4{}) {
			want[ip] = true
		}
	}
	if n := f.vteps.MaxEntries(); len(want) > int(n) {
		return fmt.Errorf("bpf: set VTEPs: %d addresses, the map holds %d: %w", len(want), n, ErrFull)
	}
	have, err := f.VTEPs()
	if err != nil {
		return err
	}
	had := make(map[packet.IP4]bool, len(have))
	if err := f.removeVTEPs(have, want, had); err != nil {
		return err
	}
	for ip := range want {
		if had[ip] {
			continue
		}
		if err := f.vteps.Put([4]byte(ip), uint32(0)); err != nil {
			return fmt.Errorf("bpf: add VTEP %s: %w", ip, mapErr(err))
		}
	}
	return nil
}

// removeVTEPs deletes the sources of have that are not in want (noting
// every source of have in had) and then moves xgw_vteps_gen on, also when
// a delete failed after others succeeded: a source gone from the map must
// not stay proven in a flow's cache.
func (f *FastPath) removeVTEPs(have []packet.IP4, want, had map[packet.IP4]bool) (err error) {
	removed := false
	defer func() {
		if removed {
			if berr := f.bumpVTEPsGen(); berr != nil {
				err = errors.Join(err, berr)
			}
		}
	}()
	for _, ip := range have {
		had[ip] = true
		if want[ip] {
			continue
		}
		if err := deleteVTEP(f.vteps, ip); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("bpf: remove VTEP %s: %w", ip, err)
		}
		removed = true
	}
	return nil
}

// deleteVTEP removes ip from xgw_vteps; a variable so that a test can
// make one removal fail.
var deleteVTEP = func(m *ebpf.Map, ip packet.IP4) error { return m.Delete([4]byte(ip)) }

// bumpVTEPsGen moves xgw_vteps_gen to a new value, after the removals it
// covers: a hit that read the old generation and found a removed source
// cached it with the old stamp, which no longer matches. The new value is
// random, not the old plus one: a second writer on the same pins (an
// upgrade hand-off, an operator tool) that read the generation earlier
// would otherwise write back a value that stamps live caches (review F1);
// a random one matches an old stamp with odds of 2^-32. A failed bump is
// retried; if it still fails, the error says what it leaves behind.
func (f *FastPath) bumpVTEPsGen() error {
	var g uint32
	if err := f.vtepsGen.Lookup(uint32(0), &g); err != nil {
		return fmt.Errorf("bpf: read xgw_vteps_gen (flows may still accept a removed chassis from their cache): %w", err)
	}
	next := g
	for next == g {
		next = rand.Uint32()
	}
	var err error
	for range 3 {
		if err = f.vtepsGen.Put(uint32(0), next); err == nil {
			return nil
		}
	}
	return fmt.Errorf("bpf: bump xgw_vteps_gen (flows may still accept a removed chassis from their cache): %w", err)
}

// VTEPs returns the set SetVTEPs made, in address order.
func (f *FastPath) VTEPs() ([]packet.IP4, error) {
	var ips []packet.IP4
	var k [4]byte
	var v uint32
	it := f.vteps.Iterate()
	for it.Next(&k, &v) {
		ips = append(ips, packet.IP4(k))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: list VTEPs: %w", err)
	}
	slices.SortFunc(ips, packet.IP4.Compare)
	return ips, nil
}

// Flow is one offloaded direction with its counters.
type Flow struct {
	// Action is what the fast path does. Conns is zero: conntrack handles
	// do not outlive the process that made them. Outer.TTL 0 reads back
	// as geneve.DefaultTTL, which is what was sent.
	Action flow.Action
	// ICMPType is the one echo type (8 request, 0 reply) an ICMP flow
	// forwards; the other punts, as conntrack would not accept it.
	ICMPType uint8
	// Packets and Bytes count hits; Bytes are (inner) IPv4 total lengths,
	// as conntrack counts them.
	Packets, Bytes uint64
	// LastSeenKtime is CLOCK_MONOTONIC ns of the last hit at tick
	// resolution (bpf_ktime_get_coarse_ns), 0 if none; LastSeen is the
	// same as wall-clock time (zero if none).
	LastSeenKtime uint64
	LastSeen      time.Time
}

// SetPort makes port's flows leave through ifindex (in the caller's
// network namespace).
func (f *FastPath) SetPort(port flow.Port, ifindex int) error {
	if port >= flow.NumPorts {
		return fmt.Errorf("bpf: set port: %v out of range", port)
	}
	// An array takes any number: check, as the devmap it replaced did.
	if _, err := net.InterfaceByIndex(ifindex); err != nil {
		return fmt.Errorf("bpf: set port %v to ifindex %d: %w", port, ifindex, err)
	}
	if err := f.tx.Put(uint32(port), uint32(ifindex)); err != nil {
		return fmt.Errorf("bpf: set port %v to ifindex %d: %w", port, ifindex, err)
	}
	return nil
}

// ClearPort empties port's slot: its flows punt (NoPort) until SetPort.
func (f *FastPath) ClearPort(port flow.Port) error {
	if port >= flow.NumPorts {
		return fmt.Errorf("bpf: clear port: %v out of range", port)
	}
	if err := f.tx.Put(uint32(port), uint32(0)); err != nil {
		return fmt.Errorf("bpf: clear port %v: %w", port, err)
	}
	return nil
}

// Install adds or replaces the flow a.Key. A replaced entry keeps its
// counters (packets counted between the read and the write are lost).
// It returns ErrFull when the map is full.
func (f *FastPath) Install(a *flow.Action) error {
	k, v, err := encodeFlow(a)
	if err != nil {
		return err
	}
	var old gwFpAction
	if err := f.flows.Lookup(&k, &old); err == nil {
		v.Packets, v.Bytes, v.LastSeen = old.Packets, old.Bytes, old.LastSeen
	}
	usedMu.Lock()
	defer usedMu.Unlock()
	if err := f.setUsed(1); err != nil {
		return err
	}
	if err := f.flows.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("bpf: install flow %+v: %w", a.Key, mapErr(err))
	}
	return nil
}

// InstallBatch installs as in one syscall (BPF_MAP_UPDATE_BATCH). Unlike
// Install it resets the counters of entries it replaces: it is meant for
// new flows. It returns how many were installed, in order; on ErrFull the
// rest were not.
func (f *FastPath) InstallBatch(as []flow.Action) (int, error) {
	if len(as) == 0 {
		return 0, nil
	}
	ks := make([]gwFpKey, len(as))
	vs := make([]gwFpAction, len(as))
	for i := range as {
		var err error
		if ks[i], vs[i], err = encodeFlow(&as[i]); err != nil {
			return 0, err
		}
	}
	usedMu.Lock()
	defer usedMu.Unlock()
	if err := f.setUsed(1); err != nil {
		return 0, err
	}
	n, err := f.flows.BatchUpdate(ks, vs, &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)})
	if err != nil {
		return n, fmt.Errorf("bpf: install batch: %w", mapErr(err))
	}
	return n, nil
}

// Remove deletes the flow k; ErrNotFound if there is none.
func (f *FastPath) Remove(k flow.Key) error {
	ek := encodeKey(k)
	usedMu.Lock()
	defer usedMu.Unlock()
	if err := f.flows.Delete(&ek); err != nil {
		return fmt.Errorf("bpf: remove flow %+v: %w", k, mapErr(err))
	}
	return f.clearIfEmpty(false)
}

// RemoveBatch deletes ks (BPF_MAP_DELETE_BATCH), skipping keys that are
// not there, and returns how many it deleted.
func (f *FastPath) RemoveBatch(ks []flow.Key) (int, error) {
	eks := make([]gwFpKey, len(ks))
	for i, k := range ks {
		eks[i] = encodeKey(k)
	}
	usedMu.Lock()
	defer usedMu.Unlock()
	deleted := 0
	for len(eks) > 0 {
		n, err := f.flows.BatchDelete(eks, nil)
		deleted += n
		if err == nil {
			break
		}
		if !errors.Is(err, ebpf.ErrKeyNotExist) || n >= len(eks) {
			return deleted, fmt.Errorf("bpf: remove batch: %w", mapErr(err))
		}
		eks = eks[n+1:] // the kernel stopped at the missing key
	}
	if deleted == 0 {
		return 0, nil
	}
	return deleted, f.clearIfEmpty(false)
}

// Counters returns the hit counters of k and the wall-clock time of its
// last hit (zero if none).
func (f *FastPath) Counters(k flow.Key) (packets, bytes uint64, lastSeen time.Time, err error) {
	ek := encodeKey(k)
	var v gwFpAction
	if err := f.flows.Lookup(&ek, &v); err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("bpf: counters of %+v: %w", k, mapErr(err))
	}
	return v.Packets, v.Bytes, KtimeToTime(v.LastSeen), nil
}

// Lookup returns the flow k.
func (f *FastPath) Lookup(k flow.Key) (Flow, error) {
	ek := encodeKey(k)
	var v gwFpAction
	if err := f.flows.Lookup(&ek, &v); err != nil {
		return Flow{}, fmt.Errorf("bpf: lookup %+v: %w", k, mapErr(err))
	}
	return decodeFlow(&ek, &v), nil
}

// Flows iterates over every entry with its counters, for dump-flows, for
// adopting the entries of a previous process and for the offload manager's
// periodic credit of counters (offload.Backend.Iterate). Entries installed
// or removed during the walk may or may not be seen, and an entry may be
// seen twice (a hash map walk can restart when the entry it stands on is
// deleted), so a caller that needs each flow once keys a set by
// Action.Key. The walk is batched (flowWalk).
func (f *FastPath) Flows() iter.Seq2[Flow, error] {
	return func(yield func(Flow, error) bool) {
		if err := f.walkFlows(yield); err != nil {
			yield(Flow{}, fmt.Errorf("bpf: iterate flows: %w", err))
		}
	}
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, unix.E2BIG), errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("%w (%w)", ErrFull, err)
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return err
}

// be16/be32 store network-order bytes in the native-order fields bpf2go
// generates for __be16/__be32.
func be16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func be32(a packet.IP4) uint32 { return binary.NativeEndian.Uint32(a[:]) }

func unbe16(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.BigEndian.Uint16(b[:])
}

func unbe32(v uint32) (a packet.IP4) {
	binary.NativeEndian.PutUint32(a[:], v)
	return a
}

func encodeKey(k flow.Key) gwFpKey {
	return gwFpKey{
		Src: be32(k.Src), Dst: be32(k.Dst),
		Sport: be16(k.SrcPort), Dport: be16(k.DstPort),
		Vni: k.VNI, InnerDst: k.InnerDst,
		InPort: uint8(k.InPort), Proto: k.Proto,
	}
}

func decodeKey(k *gwFpKey) flow.Key {
	return flow.Key{
		InPort: flow.Port(k.InPort), VNI: k.Vni, InnerDst: k.InnerDst,
		Src: unbe32(k.Src), Dst: unbe32(k.Dst),
		SrcPort: unbe16(k.Sport), DstPort: unbe16(k.Dport), Proto: k.Proto,
	}
}

// checkShape refuses a flow (key k, of either family) whose ports and
// decap/encap flags the fast path cannot carry out as the pipeline did.
func checkShape(k any, in, out flow.Port, decap, encap bool, vni uint32, innerDst packet.MAC) error {
	switch {
	case in >= flow.NumPorts || out >= flow.NumPorts:
		return fmt.Errorf("bpf: flow %+v: port out of range", k)
	case decap != (in == flow.Underlay):
		return fmt.Errorf("bpf: flow %+v: decap must be set exactly for underlay flows", k)
	case encap != (out == flow.Underlay):
		return fmt.Errorf("bpf: flow %+v: encap must be set exactly for flows out of the underlay", k)
	case in == flow.External && (vni != 0 || innerDst != packet.MAC{}):
		return fmt.Errorf("bpf: flow %+v: external flows have no VNI or inner MAC", k)
	}
	return nil
}

// encodeFlow translates a FlowAction into the map's key and value,
// computing the checksum deltas the way nat.Rewrite and IPv4.DecTTL
// apply them: only changed fields contribute (an unchanged field would
// add 0xffff, which is not neutral for a checksum of 0xffff).
func encodeFlow(a *flow.Action) (gwFpKey, gwFpAction, error) {
	var v gwFpAction
	k := a.Key
	if err := checkShape(k, k.InPort, a.OutPort, a.Decap, a.Encap, k.VNI, k.InnerDst); err != nil {
		return gwFpKey{}, v, err
	}
	switch k.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
	case packet.ProtoICMP:
		if k.SrcPort != k.DstPort || a.NATSrcPort != a.NATDstPort {
			return gwFpKey{}, v, fmt.Errorf("bpf: ICMP flow %+v: both ports must hold the echo id", k)
		}
		// Conntrack takes the request type in the original direction
		// and its reply in the other.
		v.IcmpType = icmpEchoRequest
		if a.Conns[0].Dir == conntrack.DirReply {
			v.IcmpType = icmpEchoReply
		}
	default:
		return gwFpKey{}, v, fmt.Errorf("bpf: flow %+v: protocol %d is not offloaded", k, k.Proto)
	}

	var addr, ports packet.Delta
	if a.NATSrc != k.Src {
		addr = addr.AddUpdate32(k.Src, a.NATSrc)
	}
	if a.NATDst != k.Dst {
		addr = addr.AddUpdate32(k.Dst, a.NATDst)
	}
	if k.Proto == packet.ProtoICMP {
		if a.NATSrcPort != k.SrcPort {
			ports = ports.AddUpdate16(k.SrcPort, a.NATSrcPort) // the id; no pseudo-header
		}
		v.L4Delta = uint32(ports)
	} else {
		ports = addr
		if a.NATSrcPort != k.SrcPort {
			ports = ports.AddUpdate16(k.SrcPort, a.NATSrcPort)
		}
		if a.NATDstPort != k.DstPort {
			ports = ports.AddUpdate16(k.DstPort, a.NATDstPort)
		}
		v.L4Delta = uint32(ports)
	}
	ip := addr
	for range a.TTLDec {
		ip = ip.AddUpdate16(1<<8, 0) // (ttl<<8|proto) -> ((ttl-1)<<8|proto), as DecTTL
	}
	v.IpDelta = uint32(ip)

	if a.Decap {
		v.Flags |= flagDecap
	}
	if a.NATSrc != k.Src || a.NATDst != k.Dst || a.NATSrcPort != k.SrcPort || a.NATDstPort != k.DstPort {
		v.Flags |= flagNAT
	}
	if a.Outport != 0 {
		if !a.Decap {
			return gwFpKey{}, v, fmt.Errorf("bpf: flow %+v: only Geneve flows have an outport to check", k)
		}
		v.Flags |= flagOutport
		v.Outport = a.Outport
	}
	v.MaxLen = a.MaxLen
	v.TtlDec = a.TTLDec
	v.OutPort = uint8(a.OutPort)
	v.NatSrc, v.NatDst = be32(a.NATSrc), be32(a.NATDst)
	v.NatSport, v.NatDport = be16(a.NATSrcPort), be16(a.NATDstPort)
	v.EthDst, v.EthSrc = a.EthDst, a.EthSrc
	if a.Encap {
		v.Flags |= flagEncap
		if a.Outer.Checksum {
			v.Flags |= flagOuterCsum
		}
		encodeOuter(&v, a)
	}
	return encodeKey(k), v, nil
}

// Offsets in the encap template (geneve.Encap's layout).
const (
	tplIPTotLen = 16
	tplIPCsum   = 24
	tplUDP      = 34
	tplUDPLen   = 38
	tplUDPCsum  = 40
	tplEnd      = geneve.EncapLen
)

// encodeOuter fills the template and its partial sums (see fp_action).
func encodeOuter(v *gwFpAction, a *flow.Action) {
	p := a.Outer
	p.Checksum = false
	tpl := v.Outer[:]
	geneve.Encap(tpl, tplEnd, 0, &p)
	for _, off := range []int{tplIPTotLen, tplIPCsum, tplUDPLen, tplUDPCsum} {
		tpl[off], tpl[off+1] = 0, 0
	}
	v.OuterIpSum = uint32(packet.Fold(packet.Sum(tpl[packet.EthernetLen:tplUDP], 0)))
	var eth [packet.EthernetLen]byte
	copy(eth[0:6], a.EthDst[:])
	copy(eth[6:12], a.EthSrc[:])
	binary.BigEndian.PutUint16(eth[12:], packet.EtherTypeIPv4)
	s := packet.PseudoSum(p.Src, p.Dst, packet.ProtoUDP, 0)
	s = packet.Sum(tpl[tplUDP:tplEnd], s)
	s = packet.Sum(eth[:], s)
	v.OuterUdpSum = uint32(packet.Fold(s))
}

func decodeFlow(k *gwFpKey, v *gwFpAction) Flow { return decodeFlowAt(k, v, ktimeOffset()) }

// decodeFlowAt is decodeFlow with the CLOCK_REALTIME - CLOCK_MONOTONIC
// offset (ktimeOffset) read once by the caller: a walk over thousands of
// entries should not read two clocks per entry.
func decodeFlowAt(k *gwFpKey, v *gwFpAction, off int64) Flow {
	a := flow.Action{
		Key:     decodeKey(k),
		OutPort: flow.Port(v.OutPort),
		Decap:   v.Flags&flagDecap != 0,
		EthSrc:  v.EthSrc, EthDst: v.EthDst,
		TTLDec: v.TtlDec,
		NATSrc: unbe32(v.NatSrc), NATDst: unbe32(v.NatDst),
		NATSrcPort: unbe16(v.NatSport), NATDstPort: unbe16(v.NatDport),
		Encap: v.Flags&flagEncap != 0,
	}
	if v.Flags&flagOutport != 0 {
		a.Outport = v.Outport
	}
	a.MaxLen = v.MaxLen
	if a.Encap {
		t := v.Outer[:]
		o := &a.Outer
		copy(o.DstMAC[:], t[0:6])
		copy(o.SrcMAC[:], t[6:12])
		o.TOS = t[15]
		o.ID = binary.BigEndian.Uint16(t[18:])
		o.DF = t[20]&0x40 != 0
		o.TTL = t[22]
		copy(o.Src[:], t[26:30])
		copy(o.Dst[:], t[30:34])
		o.SrcPort = binary.BigEndian.Uint16(t[34:])
		o.VNI = uint32(t[46])<<16 | uint32(t[47])<<8 | uint32(t[48])
		o.InPort, o.OutPort = geneve.ParseOVNValue(binary.BigEndian.Uint32(t[54:]))
		o.Checksum = v.Flags&flagOuterCsum != 0
	}
	return Flow{
		Action: a, ICMPType: v.IcmpType,
		Packets: v.Packets, Bytes: v.Bytes,
		LastSeenKtime: v.LastSeen, LastSeen: ktimeToTimeAt(v.LastSeen, off),
	}
}
