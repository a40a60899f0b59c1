package ipfrag

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Key names one datagram as it arrives: the reassembly key (RFC 791 for
// IPv4: source, destination, protocol, 16-bit identification; RFC 8200
// for IPv6: source, destination, 32-bit identification, and here the
// fragment header's Next Header as the protocol) widened by what
// separates tenants that reuse addresses (arrival port, VNI, inner
// destination MAC). An IPv4 key leaves Src6 and Dst6 zero; an IPv6 key
// sets V6 and leaves Src and Dst zero, so the families never collide. It
// is comparable and pointer-free.
type Key struct {
	Src, Dst   [4]byte
	VNI        uint32
	MAC        [6]byte
	Proto      uint8
	In         uint8
	ID         uint32 // IPv4: 16 bits
	V6         bool
	Src6, Dst6 [16]byte
}

// Info is what later fragments borrow from the first: its L4 ports (ICMP
// echo: the id in both) and its ICMP type.
type Info struct {
	SrcPort, DstPort uint16
	ICMPType         uint8
}

// Frag describes one fragment: the data bytes [Start, End) it carries
// relative to the datagram's fragmentable part (IPv4: its payload; IPv6:
// what follows the fragment header), whether more follow, and its length
// from the start of the IP header (IPv4 total length; IPv6 40 + payload
// length), for the minimum size.
type Frag struct {
	Start, End int
	More       bool
	IPLen      int
}

// Result is what Admit decided for a fragment.
type Result uint8

const (
	First     Result = iota // the first fragment: run it, then SetFirst or Fail
	Known                   // a later fragment whose first was translated: Info applies
	Held                    // a later fragment, copied and held until its first arrives
	Overlap                 // overlaps a fragment already seen (or its datagram is poisoned)
	TooMany                 // more fragments than MaxFragments for one datagram
	TooSmall                // a non-last fragment under MinSize
	NoMemory                // no free datagram slot in its set, or no free hold slot
	Failed                  // its datagram's first fragment was dropped
	Malformed               // empty, or ends past 65535 bytes
	numResults
)

var resultNames = [numResults]string{"first", "known", "held", "overlap", "too-many", "too-small", "no-memory", "failed", "malformed"}

func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return "unknown"
}

// Config bounds the table. Zero fields take the defaults.
type Config struct {
	MaxDatagrams int           // datagrams in progress; default 4096
	MaxFragments int           // per datagram, at most 64; default 64
	MaxHeld      int           // fragments held for a missing first; default 256
	SlotSize     int           // bytes per held frame (headroom included); default 2048+Headroom
	Headroom     int           // free bytes before a released frame; default 64
	MinSize      int           // smallest IP length (Frag.IPLen) of a non-last fragment; default 400
	Timeout      time.Duration // life of an incomplete datagram; default 15 s
}

const (
	maxFragsCap = 64
	ways        = 8
)

func (c *Config) defaults() error {
	if c.MaxDatagrams == 0 {
		c.MaxDatagrams = 4096
	}
	if c.MaxFragments == 0 {
		c.MaxFragments = maxFragsCap
	}
	if c.MaxHeld == 0 {
		c.MaxHeld = 256
	}
	if c.Headroom == 0 {
		c.Headroom = 64
	}
	if c.SlotSize == 0 {
		c.SlotSize = 2048 + c.Headroom
	}
	if c.MinSize == 0 {
		c.MinSize = 400
	}
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	switch {
	case c.MaxDatagrams < ways || c.MaxDatagrams > 1<<20:
		return errors.New("ipfrag: MaxDatagrams out of range 8..1M")
	case c.MaxFragments < 2 || c.MaxFragments > maxFragsCap:
		return errors.New("ipfrag: MaxFragments out of range 2..64")
	case c.MaxHeld < 0 || c.MaxHeld > 1<<16:
		return errors.New("ipfrag: MaxHeld out of range 0..65536")
	case c.SlotSize <= c.Headroom || c.Headroom < 0:
		return errors.New("ipfrag: SlotSize must exceed Headroom")
	case c.MinSize < 0 || c.Timeout < 0:
		return errors.New("ipfrag: MinSize and Timeout must not be negative")
	}
	return nil
}

// Datagram states.
const (
	statePending uint8 = iota // first fragment not seen (or not yet run)
	stateKnown                // first fragment translated: info is valid
	stateFailed               // first fragment dropped, or overlap: drop the rest
)

type span struct{ start, end uint16 }

type entry struct {
	key     Key
	used    bool
	state   uint8
	poison  bool // failed by overlap (counted as overlap, not failed)
	n       uint8
	held    uint16 // held slots of this datagram
	total   uint32 // payload length, known from the last fragment (0: not yet)
	covered uint32
	expires int64
	info    Info
	spans   [maxFragsCap]span
}

// maxEnd is the end of the furthest fragment seen.
func (e *entry) maxEnd() int {
	m := 0
	for _, s := range e.spans[:e.n] {
		m = max(m, int(s.end))
	}
	return m
}

// slot is one held fragment.
type slot struct {
	entry int32 // index of its datagram's entry; -1 when free or ready
	n     int32 // frame length
	in    uint8
	info  Info // once ready
}

// Table is the fragment table. Its methods are safe for concurrent use.
type Table struct {
	cfg  Config
	seed uint64
	mask uint64 // sets-1

	mu      sync.Mutex
	entries []entry
	slots   []slot
	buf     []byte  // MaxHeld * SlotSize
	free    []int32 // free slots (a stack)
	ready   []int32 // released slots, FIFO
	readyAt int     // next to take in ready
	live    int     // used entries

	st         counters
	nextExpire atomic.Int64
	pending    atomic.Int32 // ready slots not yet taken, read without the lock
	liveHint   atomic.Int32 // live entries, read without the lock
}

// New returns a table bounded by cfg.
func New(cfg Config) (*Table, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	sets := 1
	for sets*ways < cfg.MaxDatagrams {
		sets <<= 1
	}
	t := &Table{
		cfg:     cfg,
		seed:    rand.Uint64() | 1,
		mask:    uint64(sets - 1),
		entries: make([]entry, sets*ways),
		slots:   make([]slot, cfg.MaxHeld),
		buf:     make([]byte, cfg.MaxHeld*cfg.SlotSize),
		free:    make([]int32, 0, cfg.MaxHeld),
		ready:   make([]int32, 0, cfg.MaxHeld),
	}
	for i := cfg.MaxHeld - 1; i >= 0; i-- {
		t.slots[i].entry = -1
		t.free = append(t.free, int32(i))
	}
	return t, nil
}

// Config returns the table's bounds, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

func (t *Table) hash(k *Key) uint64 {
	a := uint64(k.Src[0])<<56 | uint64(k.Src[1])<<48 | uint64(k.Src[2])<<40 | uint64(k.Src[3])<<32 |
		uint64(k.Dst[0])<<24 | uint64(k.Dst[1])<<16 | uint64(k.Dst[2])<<8 | uint64(k.Dst[3])
	b := uint64(k.ID)<<48 ^ uint64(k.ID)>>16 | uint64(k.Proto)<<40 | uint64(k.In)<<32 | uint64(k.VNI)
	c := uint64(k.MAC[0])<<40 | uint64(k.MAC[1])<<32 | uint64(k.MAC[2])<<24 | uint64(k.MAC[3])<<16 | uint64(k.MAC[4])<<8 | uint64(k.MAC[5])
	if k.V6 {
		// Only IPv6 pays for its addresses' 32 bytes (IPv4 leaves them
		// zero); the flag enters c so that the families differ.
		a ^= binary.LittleEndian.Uint64(k.Src6[:8]) ^ binary.LittleEndian.Uint64(k.Dst6[8:])*0xff51afd7ed558ccd
		c ^= (binary.LittleEndian.Uint64(k.Src6[8:]) ^ binary.LittleEndian.Uint64(k.Dst6[:8])*0xc4ceb9fe1a85ec53) | 1<<63
	}
	h := (a ^ t.seed) * 0x9e3779b97f4a7c15
	h = (h ^ b ^ h>>29) * 0xbf58476d1ce4e5b9
	h = (h ^ c ^ h>>32) * 0x94d049bb133111eb
	return h ^ h>>31
}

// find returns the index of k's entry, or -1 with the index of a way to
// use for it (-1 when the set is full of live datagrams). Expired
// entries met on the way are reclaimed.
func (t *Table) find(k *Key, now int64) (int, int) {
	base := int(t.hash(k)&t.mask) * ways
	spare := -1
	for i := base; i < base+ways; i++ {
		e := &t.entries[i]
		if e.used && e.expires <= now {
			t.evict(i)
		}
		if !e.used {
			if spare < 0 {
				spare = i
			}
			continue
		}
		if e.key == *k {
			return i, -1
		}
	}
	return -1, spare
}

// evict frees entry i and the fragments it holds, counting those as
// timed out (or failed, for a datagram already failed).
func (t *Table) evict(i int) {
	e := &t.entries[i]
	if e.held > 0 {
		n := t.freeHeld(i)
		t.st.heldDropped += uint64(n)
		if e.state == stateFailed {
			t.st.failed += uint64(n)
		} else {
			t.st.timeout += uint64(n)
		}
	}
	if e.state == statePending || e.state == stateKnown && e.covered != e.total {
		t.st.expired++
	}
	*e = entry{}
	t.live--
	t.liveHint.Store(int32(t.live))
}

// freeHeld returns entry i's held slots to the pool.
func (t *Table) freeHeld(i int) int {
	n := 0
	for s := range t.slots {
		if t.slots[s].entry == int32(i) {
			t.slots[s].entry = -1
			t.free = append(t.free, int32(s))
			n++
		}
	}
	t.entries[i].held = 0
	return n
}

// Admit records fragment f of datagram k and says what to do with it.
// frame is the whole frame as it arrived, held (copied) when the result
// is Held; in is its arrival port, given back on release. With First,
// the caller must end the datagram's wait with SetFirst or Fail.
func (t *Table) Admit(k *Key, f Frag, frame []byte, in uint8, now int64) (Result, Info) {
	if f.End <= f.Start || f.Start < 0 || f.End > 65535 {
		t.count(Malformed)
		return Malformed, Info{}
	}
	if f.More && f.IPLen < t.cfg.MinSize {
		t.count(TooSmall)
		return TooSmall, Info{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i, spare := t.find(k, now)
	if i < 0 {
		if spare < 0 {
			t.st.noMemory++
			return NoMemory, Info{}
		}
		i = spare
		t.entries[i] = entry{key: *k, used: true, expires: now + int64(t.cfg.Timeout)}
		t.live++
		t.liveHint.Store(int32(t.live))
	}
	e := &t.entries[i]
	if e.state == stateFailed {
		if e.poison {
			t.st.overlap++
			return Overlap, Info{}
		}
		t.st.failed++
		return Failed, Info{}
	}
	s := span{uint16(f.Start), uint16(f.End)}
	for j := range int(e.n) {
		o := e.spans[j]
		if s.start < o.end && o.start < s.end {
			t.st.overlap++
			if s != o {
				// A partial overlap: the datagram cannot be trusted.
				e.state, e.poison = stateFailed, true
				if e.held > 0 {
					n := uint64(t.freeHeld(i))
					t.st.overlap += n
					t.st.heldDropped += n
				}
			}
			return Overlap, Info{}
		}
	}
	if !f.More && (e.total != 0 || f.End < e.maxEnd()) || e.total != 0 && f.End > int(e.total) {
		// A second last fragment, or data past the end the last
		// fragment sets.
		t.st.malformed++
		return Malformed, Info{}
	}
	if int(e.n) >= t.cfg.MaxFragments {
		t.st.tooMany++
		return TooMany, Info{}
	}
	if f.Start != 0 && e.state == statePending {
		if !t.hold(i, frame, in) {
			t.st.noMemory++
			return NoMemory, Info{}
		}
	}
	e.spans[e.n] = s
	e.n++
	e.covered += uint32(f.End - f.Start)
	if !f.More {
		e.total = uint32(f.End)
	}
	switch {
	case f.Start == 0:
		return First, Info{}
	case e.state == statePending:
		t.st.held++
		return Held, Info{}
	}
	info := e.info
	t.st.known++
	t.done(i)
	return Known, info
}

// hold copies frame into a free slot for entry i.
func (t *Table) hold(i int, frame []byte, in uint8) bool {
	if len(t.free) == 0 || len(frame) > t.cfg.SlotSize-t.cfg.Headroom {
		return false
	}
	s := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	t.slots[s] = slot{entry: int32(i), n: int32(len(frame)), in: in}
	off := int(s)*t.cfg.SlotSize + t.cfg.Headroom
	copy(t.buf[off:], frame)
	t.entries[i].held++
	return true
}

// done frees entry i once every byte of its datagram was seen and nothing
// of it is held.
func (t *Table) done(i int) {
	e := &t.entries[i]
	if e.total != 0 && e.covered == e.total && e.held == 0 && e.state == stateKnown {
		t.st.completed++
		*e = entry{}
		t.live--
		t.liveHint.Store(int32(t.live))
	}
}

// SetFirst records that datagram k's first fragment was translated with
// info: fragments held for it become ready (TakeReady), later ones are
// Known.
func (t *Table) SetFirst(k *Key, info Info, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, _ := t.find(k, now)
	if i < 0 || t.entries[i].state != statePending {
		return
	}
	e := &t.entries[i]
	e.state, e.info = stateKnown, info
	if e.held > 0 {
		if t.readyAt > 0 { // keep ready within its capacity
			t.ready = t.ready[:copy(t.ready, t.ready[t.readyAt:])]
			t.readyAt = 0
		}
		for s := range t.slots {
			if t.slots[s].entry == int32(i) {
				t.slots[s].entry, t.slots[s].info = -1, info
				t.ready = append(t.ready, int32(s))
				t.st.released++
			}
		}
		e.held = 0
		t.pending.Store(int32(len(t.ready) - t.readyAt))
	}
	t.done(i)
}

// Fail records that datagram k's first fragment was dropped: held
// fragments are freed and later ones get Failed. It returns how many held
// fragments it dropped.
func (t *Table) Fail(k *Key, now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, _ := t.find(k, now)
	if i < 0 {
		return 0
	}
	e := &t.entries[i]
	e.state = stateFailed
	n := 0
	if e.held > 0 {
		n = t.freeHeld(i)
		t.st.failed += uint64(n)
		t.st.heldDropped += uint64(n)
	}
	return n
}

// Ready reports whether fragments wait to be taken, without locking.
func (t *Table) Ready() bool { return t.pending.Load() > 0 }

// TakeReady copies the oldest released fragment into dst (which must hold
// SlotSize bytes) at Headroom and returns its length, arrival port and
// the info of its first fragment; ok is false when none is ready.
func (t *Table) TakeReady(dst []byte) (n int, in uint8, info Info, ok bool) {
	if t.pending.Load() == 0 {
		return 0, 0, Info{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.readyAt == len(t.ready) {
		return 0, 0, Info{}, false
	}
	s := t.ready[t.readyAt]
	t.readyAt++
	if t.readyAt == len(t.ready) {
		t.ready, t.readyAt = t.ready[:0], 0
	}
	t.pending.Store(int32(len(t.ready) - t.readyAt))
	sl := &t.slots[s]
	off := int(s)*t.cfg.SlotSize + t.cfg.Headroom
	n = copy(dst[t.cfg.Headroom:], t.buf[off:off+int(sl.n)])
	t.free = append(t.free, s)
	return n, sl.in, sl.info, true
}

// Expire evicts datagrams whose time is up, at most once per 100 ms, and
// returns how many held fragments that dropped. It takes the lock only
// when datagrams are in progress.
func (t *Table) Expire(now int64) int {
	if t.liveHint.Load() == 0 || now < t.nextExpire.Load() {
		return 0
	}
	t.nextExpire.Store(now + int64(100*time.Millisecond))
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.st.timeout + t.st.failed
	for i := range t.entries {
		if e := &t.entries[i]; e.used && e.expires <= now {
			t.evict(i)
		}
	}
	return int(t.st.timeout + t.st.failed - before)
}
