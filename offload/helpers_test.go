package offload

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

const (
	zoneDNAT = 6
	zoneSNAT = 16
	sec      = int64(time.Second)
	ms       = int64(time.Millisecond)
)

var (
	vmIP    = packet.IP4{10, 199, 100, 10}
	extIP   = packet.IP4{198, 51, 100, 7}
	snatIP  = packet.IP4{203, 0, 113, 5}
	vtep    = packet.IP4{172, 31, 5, 23}
	chassis = packet.IP4{172, 31, 1, 21}
	grMAC   = packet.MAC{0x0a, 0x00, 0x00, 0x00, 0x00, 0x02}
	nhMAC   = packet.MAC{0x0a, 0x00, 0x00, 0x00, 0x00, 0x99}
	extMAC  = packet.MAC{0x0a, 0x00, 0x00, 0x00, 0x00, 0x01}
	vmMAC   = packet.MAC{0x00, 0x00, 0x19, 0x91, 0x00, 0x10}
	rtrMAC  = packet.MAC{0x0a, 0x00, 0x00, 0x00, 0x00, 0x03}
)

// fakeClock is conntrack's (and the manager's) clock in tests.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64            { return c.ns.Load() }
func (c *fakeClock) advance(d int64) int64 { return c.ns.Add(d) }

// fakePlanner plans like the seed: egress from the underlay is SNATed to
// snatIP with the source port + 10000 and leaves on the external side;
// the reverse arrives there and is encapsulated to the chassis.
type fakePlanner struct {
	mu    sync.Mutex
	err   error // returned for every plan while set
	calls int
}

func (p *fakePlanner) PlanFlow(c flow.Candidate) (fwd, rev flow.Action, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return fwd, rev, p.err
	}
	k := c.Key
	natPort := k.SrcPort
	if k.Proto != packet.ProtoICMP {
		natPort += 10000
	}
	fwd = flow.Action{Key: k, OutPort: flow.External, Decap: true,
		EthSrc: extMAC, EthDst: nhMAC, TTLDec: 1,
		NATSrc: snatIP, NATDst: k.Dst, NATSrcPort: natPort, NATDstPort: k.DstPort, Conns: c.Conns}
	rk := flow.Key{InPort: flow.External, Src: k.Dst, Dst: snatIP, SrcPort: k.DstPort, DstPort: natPort, Proto: k.Proto}
	rev = flow.Action{Key: rk, OutPort: flow.Underlay, Encap: true,
		Outer:  geneve.EncapParams{Src: vtep, Dst: chassis, SrcPort: 49152, VNI: 9, InPort: 1, OutPort: 2, Checksum: true, DF: true},
		EthSrc: rtrMAC, EthDst: vmMAC, TTLDec: 1,
		NATSrc: k.Dst, NATDst: k.Src, NATSrcPort: k.DstPort, NATDstPort: k.SrcPort}
	for i, cn := range c.Conns {
		rev.Conns[i] = flow.Conn{Handle: cn.Handle, Dir: cn.Dir ^ 1}
	}
	return fwd, rev, nil
}

// fakeFP is a backend with a capacity, an operation log, injectable
// errors and settable counters.
type fakeFP struct {
	mu       sync.Mutex
	clock    func() int64 // of LastSeen; nil: the wall clock
	cap      int
	entries  map[flow.Key]*fakeEntry
	log      []string
	fail     map[flow.Key]error // install error for a key
	installs int                // InstallBatch calls
	iterates int
	lookups  int
}

type fakeEntry struct {
	a flow.Action
	c Counters
}

func newFakeFP(capacity int) *fakeFP {
	return &fakeFP{cap: capacity, entries: map[flow.Key]*fakeEntry{}, fail: map[flow.Key]error{}}
}

// Name is the XDP backend's: the dump goldens show dp:xdp.
func (f *fakeFP) Name() string { return "xdp" }

func (f *fakeFP) Now() int64 {
	if f.clock == nil {
		return time.Now().UnixNano()
	}
	return f.clock()
}

func keyName(k flow.Key) string {
	return fmt.Sprintf("%v:%v:%d>%v:%d", k.InPort, k.Src, k.SrcPort, k.Dst, k.DstPort)
}

func (f *fakeFP) InstallBatch(a []flow.Action) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installs++
	for i := range a {
		if err := f.fail[a[i].Key]; err != nil {
			f.log = append(f.log, "fail "+keyName(a[i].Key))
			return i, err
		}
		if _, ok := f.entries[a[i].Key]; !ok && len(f.entries) >= f.cap {
			f.log = append(f.log, "full "+keyName(a[i].Key))
			return i, fmt.Errorf("fake map: %w", ErrFull)
		}
		f.entries[a[i].Key] = &fakeEntry{a: a[i]}
		f.log = append(f.log, "install "+keyName(a[i].Key))
	}
	return len(a), nil
}

func (f *fakeFP) RemoveBatch(k []flow.Key) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range k {
		if _, ok := f.entries[k[i]]; !ok {
			return i, errors.New("fake map: no such key")
		}
		delete(f.entries, k[i])
		f.log = append(f.log, "remove "+keyName(k[i]))
	}
	return len(k), nil
}

func (f *fakeFP) Counters(k flow.Key) (Counters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	e, ok := f.entries[k]
	if !ok {
		return Counters{}, errors.New("fake map: no such key")
	}
	return e.c, nil
}

func (f *fakeFP) Iterate(fn func(a *flow.Action, c Counters) bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.iterates++
	keys := make([]flow.Key, 0, len(f.entries))
	for k := range f.entries {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyName(keys[i]) < keyName(keys[j]) })
	for _, k := range keys {
		e := f.entries[k]
		a := e.a
		if !fn(&a, e.c) {
			break
		}
	}
	return nil
}

// hit adds packets to an entry as the XDP program would.
func (f *fakeFP) hit(k flow.Key, packets, bytes uint64, at int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[k]
	e.c.Packets += packets
	e.c.Bytes += bytes
	e.c.LastSeen = at
}

func (f *fakeFP) has(k flow.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.entries[k]
	return ok
}

func (f *fakeFP) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

func (f *fakeFP) takeLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log = nil
	return l
}

// harness is a manager (no goroutine) over a real conntrack table, a fake
// planner, a fake fast path and a fake clock.
type harness struct {
	t     testing.TB
	clock *fakeClock
	ct    *conntrack.Table
	pl    *fakePlanner
	fp    *fakeFP
	m     *Manager
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	ct, err := conntrack.NewTable(conntrack.Config{Capacity: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: &fakeClock{}, ct: ct, pl: &fakePlanner{}, fp: newFakeFP(1 << 12)}
	h.clock.ns.Store(1000 * sec)
	cfg.Clock = h.clock.now
	h.fp.clock = h.clock.now // LastSeen on conntrack's clock
	h.m = newManager(cfg, ct, h.pl, []Backend{h.fp})
	t.Cleanup(h.m.Close)
	return h
}

func defaultCfg() Config { return Config{Enabled: true} }

// conn is one connection in both zones, as the pipeline reports it.
type conn struct {
	h    *harness
	cand flow.Candidate
	orig [2]conntrack.Tuple
}

// open creates a connection from the VM (sport) to extIP:dport in both
// zones with its first packet, m (may be nil).
func (h *harness) open(proto uint8, sport, dport uint16, m *conntrack.Meta) *conn {
	h.t.Helper()
	c := &conn{h: h}
	c.cand.Key = flow.Key{InPort: flow.Underlay, VNI: 1, InnerDst: grMAC,
		Src: vmIP, Dst: extIP, SrcPort: sport, DstPort: dport, Proto: proto}
	for i, z := range []uint16{zoneDNAT, zoneSNAT} {
		tp := conntrack.Tuple{Src: vmIP, Dst: extIP, SrcPort: sport, DstPort: dport, Proto: proto, Zone: z}
		mt, err := h.ct.Commit(tp, withLen(m), h.clock.now(), nil)
		if err != nil {
			h.t.Fatal(err)
		}
		c.orig[i] = tp
		c.cand.Conns[i] = flow.Conn{Handle: mt.Handle, Dir: conntrack.DirOrig}
	}
	return c
}

func withLen(m *conntrack.Meta) *conntrack.Meta {
	if m == nil {
		m = &conntrack.Meta{}
	}
	if m.Len == 0 {
		m.Len = 100
	}
	if m.WScale == 0 {
		m.WScale = -1
	}
	return m
}

// send tracks n packets of c in direction d through both zones.
func (c *conn) send(d conntrack.Dir, n int, m *conntrack.Meta) {
	c.sendZones(d, n, m, 0, 1)
}

func (c *conn) sendZones(d conntrack.Dir, n int, m *conntrack.Meta, zones ...int) {
	c.h.t.Helper()
	for range n {
		for _, z := range zones {
			tp := c.orig[z]
			if d == conntrack.DirReply {
				tp = tp.Reverse()
			}
			mm := *withLen(m)
			if _, ok := c.h.ct.Lookup(tp, &mm, c.h.clock.now()); !ok {
				c.h.t.Fatalf("lookup %v missed", tp)
			}
		}
	}
}

// report hands the connection to the manager, as the pipeline does.
func (c *conn) report() { c.h.m.Candidates([]flow.Candidate{c.cand}) }

func (c *conn) fwdKey() flow.Key { return c.cand.Key }

func (c *conn) revKey() flow.Key {
	k := c.cand.Key
	natPort := k.SrcPort
	if k.Proto != packet.ProtoICMP {
		natPort += 10000
	}
	return flow.Key{InPort: flow.External, Src: k.Dst, Dst: snatIP, SrcPort: k.DstPort, DstPort: natPort, Proto: k.Proto}
}

func (c *conn) offloaded() bool {
	c.h.m.mu.Lock()
	defer c.h.m.mu.Unlock()
	_, ok := c.h.m.offloaded[pairOf(c.cand.Conns)]
	return ok
}

func (c *conn) pending() bool {
	c.h.m.mu.Lock()
	defer c.h.m.mu.Unlock()
	_, ok := c.h.m.pending[pairOf(c.cand.Conns)]
	return ok
}

func (c *conn) info(zone int) conntrack.ConnInfo {
	ci, ok := c.h.ct.Get(c.cand.Conns[zone].Handle)
	if !ok {
		c.h.t.Fatalf("connection in zone slot %d is gone", zone)
	}
	return ci
}

// step runs one manager round at the current fake time.
func (h *harness) step()     { h.m.step(false) }
func (h *harness) syncStep() { h.m.step(true) }

var (
	syn    = conntrack.Meta{TCPFlags: 0x02, Seq: 1000, Win: 65535}
	synAck = conntrack.Meta{TCPFlags: 0x12, Seq: 5000, Ack: 1001, Win: 65535}
	ack    = conntrack.Meta{TCPFlags: 0x10, Seq: 1001, Ack: 5001, Win: 65535}
	data   = conntrack.Meta{TCPFlags: 0x18, Seq: 1001, Ack: 5001, Win: 65535, PayloadLen: 10}
	fin    = conntrack.Meta{TCPFlags: 0x11, Seq: 1011, Ack: 5001, Win: 65535}
	rst    = conntrack.Meta{TCPFlags: 0x04, Seq: 5001, Win: 0}
)

// established opens a TCP connection through its handshake and one data
// segment: what the TCP rule waits for.
func (h *harness) established(sport uint16) *conn {
	c := h.open(packet.ProtoTCP, sport, 80, &syn)
	c.send(conntrack.DirReply, 1, &synAck)
	c.send(conntrack.DirOrig, 1, &ack)
	c.send(conntrack.DirOrig, 1, &data)
	return c
}

// answeredUDP opens a UDP flow with a request, a reply and one more
// request.
func (h *harness) answeredUDP(sport uint16) *conn {
	c := h.open(packet.ProtoUDP, sport, 53, nil)
	c.send(conntrack.DirReply, 1, nil)
	c.send(conntrack.DirOrig, 1, nil)
	return c
}

func numGoroutines() int { return runtime.NumGoroutine() }
