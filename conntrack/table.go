package conntrack

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/xgw-dev/xgw/packet"
)

// Table is a zoned connection table. It is safe for concurrent use.
type Table struct {
	mu sync.Mutex

	entries []entry
	slots   []uint32 // see index.go

	idxBits, genBits uint32 // Handle split
	refBits          uint32 // index slot split
	seed             [3]uint64

	hiwater            uint32 // slots below it have been used at least once
	freeHead, freeTail uint32
	heads, tails       [numClasses]uint32
	timeout            [numClasses]int64
	slack              [numClasses]int64 // see refresh
	liberal            bool

	live    int
	lastNow int64 // the latest clock value seen; Dump's default "now"
	stats   Stats
	scanned uint64 // entries Expire looked at, to prove its cost in tests
	// released hears of every removed connection (SetReleaser).
	released Releaser
	// held is set by Holder.Hold during the ChooseReply of Commit.
	held bool
}

const nilIdx = ^uint32(0)

// NewTable allocates a table for cfg.Capacity connections up front. (It is
// not called New because New is the ct_state bit in state.go.)
func NewTable(cfg Config) (*Table, error) {
	n := cfg.Capacity
	if n == 0 {
		n = DefaultCapacity
	}
	if n < 0 || n > MaxCapacity {
		return nil, fmt.Errorf("conntrack: capacity %d out of range [1, %d]", n, MaxCapacity)
	}
	t := &Table{
		idxBits:  uint32(max(1, bits.Len32(uint32(n-1)))),
		refBits:  uint32(bits.Len32(uint32(2 * n))),
		freeHead: nilIdx,
		freeTail: nilIdx,
		liberal:  cfg.TCPLiberal,
	}
	t.entries = hugeSlice[entry](n, t, cfg.Prefault)
	t.slots = hugeSlice[uint32](3*n, t, cfg.Prefault)
	t.genBits = min(16, 32-t.idxBits)
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
	def := DefaultTimeouts()
	to := cfg.Timeouts
	for c, pair := range [numClasses][2]time.Duration{
		clsTCPSynSent:     {to.TCPSynSent, def.TCPSynSent},
		clsTCPSynRecv:     {to.TCPSynRecv, def.TCPSynRecv},
		clsTCPEstablished: {to.TCPEstablished, def.TCPEstablished},
		clsTCPFinWait:     {to.TCPFinWait, def.TCPFinWait},
		clsTCPTimeWait:    {to.TCPTimeWait, def.TCPTimeWait},
		clsTCPClose:       {to.TCPClose, def.TCPClose},
		clsUDPFirst:       {to.UDPFirst, def.UDPFirst},
		clsUDPSingle:      {to.UDPSingle, def.UDPSingle},
		clsUDPMultiple:    {to.UDPMultiple, def.UDPMultiple},
		clsICMPFirst:      {to.ICMPFirst, def.ICMPFirst},
		clsICMPReply:      {to.ICMPReply, def.ICMPReply},
	} {
		d := pair[0]
		if d <= 0 {
			d = pair[1]
		}
		t.timeout[c] = int64(d)
		t.slack[c] = min(int64(d)/16, int64(time.Second))
		t.heads[c], t.tails[c] = nilIdx, nilIdx
	}
	t.stats.Capacity = n
	return t, nil
}

// Match is the outcome of tracking one packet.
type Match struct {
	Handle      Handle
	Dir         Dir
	State       State  // ct_state for this packet
	Orig, Reply Tuple  // the connection's tuples, for NAT
	Mark        uint32 // the connection's ct_mark (SetMark)
}

// ReplyChooser picks the reply tuple of a new connection; NAT implements it.
type ReplyChooser interface {
	ChooseReply(orig Tuple, taken Taken) (reply Tuple, ok bool)
}

// Taken reports whether t is already some connection's orig or reply tuple
// (zone included). It is only valid during ChooseReply, which runs with the
// table locked, so choosing and committing a reply tuple is atomic.
type Taken interface {
	Taken(t Tuple) bool
}

// Holder is implemented by the Taken a Table passes to ChooseReply. A
// chooser whose reply ties the new connection to a shared resource (NAT's
// endpoint-independent mappings count their connections) calls Hold; the
// connection remembers it, and the Releaser hears held = true when it
// goes, so that only connections that took the resource give it back.
// Hold has no effect if the commit then fails.
type Holder interface {
	Hold()
}

type takenView struct{ t *Table }

func (v takenView) Taken(k Tuple) bool { _, _, ok := v.t.find(&k); return ok }

// Hold implements Holder; the table is locked during ChooseReply.
func (v takenView) Hold() { v.t.held = true }

var zeroMeta Meta

// Lookup tracks a packet with tuple k against the existing connections of
// k.Zone. On a hit it runs the protocol state machine, refreshes the
// expiry and counts the packet; a TCP segment outside the window gets
// Tracked|Invalid and leaves the connection untouched. On a miss, ok is
// false and State is Tracked|New if the packet may start a connection,
// Tracked|Invalid otherwise. A SYN for a closed TCP connection removes it
// and reports a miss, so that Commit starts afresh (as OVS does).
func (t *Table) Lookup(k Tuple, m *Meta, now int64) (Match, bool) {
	var mt Match
	ok := t.LookupInto(&k, m, now, &mt)
	return mt, ok
}

// LookupInto is Lookup writing its Match into out: the per-packet path
// uses it so that the Match is not copied through every return.
func (t *Table) LookupInto(k *Tuple, m *Meta, now int64, out *Match) bool {
	if m == nil {
		m = &zeroMeta
	}
	t.mu.Lock()
	ok := t.lookupLocked(k, m, now, out)
	t.mu.Unlock()
	return ok
}

func (t *Table) lookupLocked(k *Tuple, m *Meta, now int64, out *Match) bool {
	if now > t.lastNow {
		t.lastNow = now
	}
	if idx, dir, ok := t.findLive(k, now); ok {
		if s, ok := t.update(idx, dir, m, now); ok {
			t.fill(out, idx, dir, s)
			return true
		}
	}
	if !validNew(k.Proto, m) {
		t.stats.InvalidPackets++
		*out = Match{State: Tracked | Invalid}
		return false
	}
	*out = Match{State: Tracked | New}
	return false
}

// fill describes connection idx, seen by a packet in direction dir with
// state s, in out.
func (t *Table) fill(out *Match, idx uint32, dir Dir, s State) {
	e := &t.entries[idx]
	out.Handle, out.Dir, out.State = t.handle(idx), dir, s
	out.Orig, out.Reply, out.Mark = e.orig, e.reply, e.mark
}

// findLive is find that treats an expired, not yet reaped, connection as
// absent and reaps it on the spot.
func (t *Table) findLive(k *Tuple, now int64) (uint32, Dir, bool) {
	idx, dir, ok := t.find(k)
	if ok && t.entries[idx].expires <= now {
		t.remove(idx)
		t.stats.Expired++
		return 0, 0, false
	}
	return idx, dir, ok
}

// update runs the state machine of connection idx for a packet in
// direction dir and returns the packet's ct_state (Tracked|Invalid, with
// nothing changed, for a packet the protocol refuses: a TCP segment out of
// window or with bad flags, an ICMP type that does not fit). ok is false
// when the packet reopened a closed TCP connection: the old one is gone
// and the packet is a miss.
func (t *Table) update(idx uint32, dir Dir, m *Meta, now int64) (State, bool) {
	e := &t.entries[idx]
	var r result
	switch e.orig.Proto {
	case packet.ProtoTCP:
		r = t.tcpUpdate(e, dir, m)
	case packet.ProtoICMP:
		r = icmpUpdate(e, dir, m)
	default:
		r = otherUpdate(e, dir)
	}
	switch r.verdict {
	case verdictInvalid:
		t.stats.InvalidPackets++
		return Tracked | Invalid, true
	case verdictReopen:
		t.remove(idx)
		t.stats.Deleted++
		return 0, false
	}
	if dir == DirReply {
		e.flags |= flagSeenReply
	}
	e.packets[dir]++
	e.bytes[dir] += uint64(m.Len)
	if r.refresh {
		t.refresh(idx, r.class, now)
	}
	return t.state(e, dir), true
}

// state is the ct_state of a tracked, valid packet of e in direction dir.
func (t *Table) state(e *entry, dir Dir) State {
	s := Tracked | State(e.flags&flagNATMask)
	if e.flags&flagSeenReply != 0 {
		s |= Established
	} else {
		s |= New
	}
	if dir == DirReply {
		s |= ReplyDir
	}
	return s
}

// Peek finds the connection k belongs to without changing anything: no
// state machine, no counters, no expiry refresh. The offload planner uses
// it to replay a packet through the pipeline's stages. State is the
// connection's, as a packet in k's direction would see it.
func (t *Table) Peek(k Tuple, now int64) (Match, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	idx, dir, ok := t.find(&k)
	if !ok || t.entries[idx].expires <= now {
		return Match{State: Tracked | New}, false
	}
	e := &t.entries[idx]
	return Match{Handle: t.handle(idx), Dir: dir, Orig: e.orig, Reply: e.reply, Mark: e.mark, State: t.state(e, dir)}, true
}

// Commit creates the connection for k as its orig tuple; ch picks the reply
// tuple (nil: k.Reverse(), no NAT). It returns the match as seen by this
// packet (Tracked|New plus NAT bits). If k already belongs to a connection
// (another worker won the race) it behaves like Lookup.
func (t *Table) Commit(k Tuple, m *Meta, now int64, ch ReplyChooser) (Match, error) {
	if m == nil {
		m = &zeroMeta
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now > t.lastNow {
		t.lastNow = now
	}
	if idx, dir, ok := t.findLive(&k, now); ok {
		if s, ok := t.update(idx, dir, m, now); ok {
			var mt Match
			t.fill(&mt, idx, dir, s)
			return mt, nil
		}
	}
	if !validNew(k.Proto, m) {
		t.stats.InvalidPackets++
		return Match{State: Tracked | Invalid}, ErrInvalid
	}
	if t.live >= len(t.entries) {
		t.expire(now, reapOnFull)
		if t.live >= len(t.entries) {
			t.stats.FullDrops++
			return Match{State: Tracked | New}, ErrFull
		}
	}
	reply := k.Reverse()
	t.held = false
	if ch != nil {
		r, ok := ch.ChooseReply(k, takenView{t})
		if !ok {
			t.stats.NoReplyDrops++
			return Match{State: Tracked | New}, ErrNoReply
		}
		reply = r
	}
	if reply == k {
		// Both directions would have one key (src == dst, sport == dport).
		t.stats.InvalidPackets++
		return Match{State: Tracked | Invalid}, ErrInvalid
	}
	if reply.Zone != k.Zone || reply.Proto != k.Proto {
		t.stats.NoReplyDrops++
		return Match{State: Tracked | New}, ErrNoReply
	}
	if _, _, taken := t.find(&reply); taken {
		t.stats.NoReplyDrops++
		return Match{State: Tracked | New}, ErrNoReply
	}

	idx := t.alloc()
	e := &t.entries[idx]
	gen := e.gen
	*e = entry{orig: k, reply: reply, gen: gen, flags: natState(k, reply), prev: nilIdx, next: nilIdx}
	if t.held {
		e.flags |= flagHeld
	}
	var c class
	switch k.Proto {
	case packet.ProtoTCP:
		c = tcpNew(e, m)
	case packet.ProtoICMP:
		c = icmpNew(e, m)
	default:
		c = clsUDPFirst
	}
	e.class = c
	e.expires = now + t.timeout[c]
	t.link(idx, c)
	t.insert(&e.orig, idx, DirOrig)
	t.insert(&e.reply, idx, DirReply)
	t.live++
	t.stats.Created++
	e.packets[DirOrig] = 1
	e.bytes[DirOrig] = uint64(m.Len)
	return Match{Handle: t.handle(idx), Dir: DirOrig, State: t.state(e, DirOrig), Orig: k, Reply: reply}, nil
}

// LookupRelated tracks an ICMP error whose embedded datagram has tuple
// inner, as written in the embedded header. As OVS does, the reversed inner
// tuple is looked up first: the embedded datagram left this point after NAT,
// so its reverse is a tuple of the connection in the direction the error
// travels. Failing that, inner itself is tried as a direction tuple, the
// error then travelling the other way. Both agree on connections without
// NAT. The packet is counted; no state or expiry changes.
func (t *Table) LookupRelated(inner Tuple, m *Meta, now int64) (Match, bool) {
	if m == nil {
		m = &zeroMeta
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now > t.lastNow {
		t.lastNow = now
	}
	rev := inner.Reverse()
	idx, dir, ok := t.findLive(&rev, now)
	if !ok {
		idx, dir, ok = t.findLive(&inner, now)
		dir ^= 1
	}
	if !ok {
		t.stats.InvalidPackets++
		return Match{State: Tracked | Invalid}, false
	}
	e := &t.entries[idx]
	e.packets[dir]++
	e.bytes[dir] += uint64(m.Len)
	s := Tracked | Related | State(e.flags&flagNATMask)
	if dir == DirReply {
		s |= ReplyDir
	}
	return Match{Handle: t.handle(idx), Dir: dir, State: s, Orig: e.orig, Reply: e.reply}, true
}

// Releaser hears of every connection the table removes (expiry, Delete,
// eviction, a SYN replacing a closed connection), with the table locked:
// NAT's endpoint-independent mappings count their connections with it.
// held says whether the connection's ReplyChooser called Holder.Hold when
// it was committed. Release must be quick and must not call back into the
// table.
type Releaser interface {
	Release(orig, reply Tuple, held bool)
}

// SetReleaser sets the table's Releaser; call it before any connection is
// committed.
func (t *Table) SetReleaser(r Releaser) {
	t.mu.Lock()
	t.released = r
	t.mu.Unlock()
}

// remove unlinks connection idx from the index and its list and frees it.
func (t *Table) remove(idx uint32) {
	e := &t.entries[idx]
	if t.released != nil {
		t.released.Release(e.orig, e.reply, e.flags&flagHeld != 0)
	}
	t.unlink(idx)
	t.erase(&e.orig)
	t.erase(&e.reply)
	t.free(idx)
	t.live--
}

// Delete removes the connection h names; false if h is stale.
func (t *Table) Delete(h Handle) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	idx, ok := t.resolve(h)
	if !ok {
		return false
	}
	t.remove(idx)
	t.stats.Deleted++
	return true
}

// Len is the number of live connections (expired ones not yet reaped
// included).
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// Stats returns a copy of the counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Entries = t.live
	return s
}

// Touch credits packets and bytes forwarded outside the table (the XDP
// fast path) to h in direction dir and pushes its expiry out from lastSeen.
// Reply traffic promotes UDP and ICMP connections as a reply seen here
// would; TCP state is left alone (the fast path punts FIN and RST).
func (t *Table) Touch(h Handle, dir Dir, packets, bytes uint64, lastSeen int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	idx, ok := t.resolve(h)
	if !ok || dir > DirReply {
		return false
	}
	e := &t.entries[idx]
	e.packets[dir] += packets
	e.bytes[dir] += bytes
	if packets == 0 {
		return true
	}
	c := e.class
	switch e.orig.Proto {
	case packet.ProtoTCP:
	case packet.ProtoICMP:
		if dir == DirReply {
			c = clsICMPReply
		}
	default:
		c = otherUpdate(e, dir).class
	}
	if dir == DirReply {
		e.flags |= flagSeenReply
	}
	t.refresh(idx, c, lastSeen)
	return true
}

// SetMark sets the connection's ct_mark.
func (t *Table) SetMark(h Handle, mark uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	idx, ok := t.resolve(h)
	if ok {
		t.entries[idx].mark = mark
	}
	return ok
}

// ConnInfo is a snapshot of one connection.
type ConnInfo struct {
	Handle         Handle
	Orig, Reply    Tuple
	State          State // Established once a reply was seen, else New; NAT bits
	Packets, Bytes [2]uint64
	LastSeen       int64
	Expires        int64
	Mark           uint32
	ICMPType       uint8 // request type of an ICMP connection (echo: 8)
	// TCP is a TCP connection's state as OVS shows it (its two peers
	// coalesced: never SYN_RECV or FIN_WAIT_2); TCPClosed for other
	// protocols. Compare it with the TCP* constants.
	TCP TCPState
}

func (t *Table) info(idx uint32) ConnInfo {
	e := &t.entries[idx]
	ci := ConnInfo{
		Handle:   t.handle(idx),
		Orig:     e.orig,
		Reply:    e.reply,
		State:    t.state(e, DirOrig),
		Packets:  e.packets,
		Bytes:    e.bytes,
		LastSeen: e.expires - t.timeout[e.class],
		Expires:  e.expires,
		Mark:     e.mark,
	}
	switch e.orig.Proto {
	case packet.ProtoTCP:
		ci.TCP = coalesceTCP(e.tcp[0].state, e.tcp[1].state)
	case packet.ProtoICMP:
		ci.ICMPType = e.icmpType()
	}
	return ci
}

// Get returns a snapshot of the connection h names.
func (t *Table) Get(h Handle) (ConnInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	idx, ok := t.resolve(h)
	if !ok {
		return ConnInfo{}, false
	}
	return t.info(idx), true
}

// rangeChunk bounds how long Range holds the lock at a time.
const rangeChunk = 256

// Range calls fn for each connection until fn returns false. It copies
// connections in small chunks under the lock and calls fn without it, so
// fn may call back into the table. Each connection present for the whole
// iteration is visited exactly once; ones created or removed meanwhile may
// or may not be.
func (t *Table) Range(fn func(ConnInfo) bool) {
	var buf [rangeChunk]ConnInfo
	for next := uint32(0); ; {
		n := 0
		t.mu.Lock()
		end := t.hiwater
		for ; next < end && n < rangeChunk; next++ {
			if t.entries[next].class != classFree {
				buf[n] = t.info(next)
				n++
			}
		}
		t.mu.Unlock()
		for i := 0; i < n; i++ {
			if !fn(buf[i]) {
				return
			}
		}
		if next >= end {
			return
		}
	}
}
