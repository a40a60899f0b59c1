package conntrack

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/xgw-dev/xgw/packet"
)

// Table is a zoned connection table of IPv4 connections. It is safe for
// concurrent use: its connections and its index are split into shards,
// each with its own lock (shard.go), so that workers on different
// connections rarely meet.
type Table = table[Tuple]

// Table6 is the table of IPv6 connections: the same code, stenciled for
// Tuple6 (tuple.go).
type Table6 = table[Tuple6]

// table is the connection table of one address family.
type table[T tupleKey] struct {
	entries []entry[T]
	slots   []uint32 // see index.go
	shards  []shard[T]

	segSize    uint32 // entries per shard segment (the last may hold fewer)
	ownerMul   uint64 // owner(idx) = idx*ownerMul>>ownerShift = idx/segSize
	ownerShift uint32
	shardShift uint32 // a hash's top 32-shardShift bits of its low word pick its region
	regionSize uint32 // index slots per shard region

	idxBits, genBits uint32 // Handle split
	refBits          uint32 // index slot split
	seed             [3]uint64

	timeout [numClasses]int64
	slack   [numClasses]int64 // see refresh
	liberal bool
	// released hears of every removed connection (SetReleaser).
	released releaser[T]
}

const nilIdx = ^uint32(0)

// NewTable allocates a table for cfg.Capacity connections up front. (It is
// not called New because New is the ct_state bit in state.go.)
func NewTable(cfg Config) (*Table, error) { return newTableOf[Tuple](cfg) }

// NewTable6 allocates an IPv6 table for cfg.Capacity connections up front.
func NewTable6(cfg Config) (*Table6, error) { return newTableOf[Tuple6](cfg) }

func newTableOf[T tupleKey](cfg Config) (*table[T], error) {
	n := cfg.Capacity
	if n == 0 {
		n = DefaultCapacity
	}
	if n < 0 || n > MaxCapacity {
		return nil, fmt.Errorf("conntrack: capacity %d out of range [1, %d]", n, MaxCapacity)
	}
	ns := cfg.shards
	if ns <= 0 {
		ns = shardCount(n)
	}
	ns = 1 << (bits.Len(uint(min(ns, n))) - 1) // a power of two, at most n
	// Every shard gets a segment of per consecutive entries but the last,
	// which takes the rest: sizes differ by less than ns and add up to
	// exactly n. Halving ns until the rest is at least one entry[T] keeps
	// every shard non-empty.
	per := (n + ns - 1) / ns
	for ns > 1 && (ns-1)*per >= n {
		ns /= 2
		per = (n + ns - 1) / ns
	}
	t := &table[T]{
		segSize:    uint32(per),
		shardShift: uint32(32 - (bits.Len(uint(ns)) - 1)),
		regionSize: uint32(3 * per),
		liberal:    cfg.TCPLiberal,
		shards:     make([]shard[T], ns),
	}
	t.setOwnerDiv(uint32(per))
	t.idxBits = uint32(max(1, bits.Len32(uint32(n-1))))
	t.refBits = uint32(bits.Len32(uint32(2 * n)))
	t.entries = hugeSlice[entry[T]](n, t, cfg.Prefault)
	t.slots = hugeSlice[uint32](ns*3*per, t, cfg.Prefault)
	t.genBits = min(16, 32-t.idxBits)
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.base = uint32(i * per)
		sh.size = uint32(min(per, n-i*per))
		sh.hiwater = sh.base
		sh.freeHead, sh.freeTail = nilIdx, nilIdx
		for c := range sh.heads {
			sh.heads[c], sh.tails[c] = nilIdx, nilIdx
		}
		sh.view.t = t
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
	}
	return t, nil
}

// match[T] is the outcome of tracking one IPv4 packet.
type Match = match[Tuple]

// Match6 is the outcome of tracking one IPv6 packet.
type Match6 = match[Tuple6]

// match is the outcome of tracking one packet.
type match[T tupleKey] struct {
	Handle      Handle
	Dir         Dir
	State       State  // ct_state for this packet
	Orig, Reply T      // the connection's tuples, for NAT
	Mark        uint32 // the connection's ct_mark (SetMark)
}

// ReplyChooser picks the reply tuple of a new connection; NAT implements it.
type ReplyChooser = replyChooser[Tuple]

// ReplyChooser6 is ReplyChooser for IPv6 connections.
type ReplyChooser6 = replyChooser[Tuple6]

type replyChooser[T tupleKey] interface {
	ChooseReply(orig T, taken taker[T]) (reply T, ok bool)
}

var zeroMeta Meta

// Lookup tracks a packet with tuple k against the existing connections of
// k.Zone. On a hit it runs the protocol state machine, refreshes the
// expiry and counts the packet; a TCP segment outside the window gets
// Tracked|Invalid and leaves the connection untouched. On a miss, ok is
// false and State is Tracked|New if the packet may start a connection,
// Tracked|Invalid otherwise. A SYN for a closed TCP connection removes it
// and reports a miss, so that Commit starts afresh (as OVS does).
func (t *table[T]) Lookup(k T, m *Meta, now int64) (match[T], bool) {
	var mt match[T]
	ok := t.LookupInto(&k, m, now, &mt)
	return mt, ok
}

// LookupInto is Lookup writing its match[T] into out: the per-packet path
// uses it so that the match[T] is not copied through every return.
func (t *table[T]) LookupInto(k *T, m *Meta, now int64, out *match[T]) bool {
	if m == nil {
		m = &zeroMeta
	}
	if t.track(k, m, now, out) {
		return true
	}
	if !validNew(tailOf(k).Proto, m) {
		t.count(k, func(s *Stats) { s.InvalidPackets++ })
		*out = match[T]{State: Tracked | Invalid}
	} else {
		*out = match[T]{State: Tracked | New}
	}
	return false
}

// track is Lookup's hit path: it finds k's live connection and runs its
// state machine, filling out. It returns false on a miss (out untouched).
func (t *table[T]) track(k *T, m *Meta, now int64, out *match[T]) bool {
	sh, idx, dir, ok := t.locate(k)
	if !ok {
		return false
	}
	defer sh.mu.Unlock()
	sh.seen(now)
	if !t.liveOrReap(sh, idx, now) {
		return false
	}
	s, ok := t.update(sh, idx, dir, m, now)
	if ok {
		t.fill(out, idx, dir, s)
	}
	return ok
}

// fill describes connection idx, seen by a packet in direction dir with
// state s, in out.
func (t *table[T]) fill(out *match[T], idx uint32, dir Dir, s State) {
	e := &t.entries[idx]
	out.Handle, out.Dir, out.State = t.handle(idx), dir, s
	out.Orig, out.Reply, out.Mark = e.orig, e.reply, e.mark
}

// liveOrReap reports whether connection idx, whose owner sh the caller
// holds, is still live at now; an expired one, not yet reaped, is treated
// as absent and reaped on the spot.
func (t *table[T]) liveOrReap(sh *shard[T], idx uint32, now int64) bool {
	if t.entries[idx].expires > now {
		return true
	}
	if t.removeHeld(t.owner(idx), idx, true, now) {
		sh.stats.Expired++
	}
	return false
}

// update runs the state machine of connection idx (owner sh, locked) for a
// packet in direction dir and returns the packet's ct_state
// (Tracked|Invalid, with nothing changed, for a packet the protocol
// refuses: a TCP segment out of window or with bad flags, an ICMP type that
// does not fit). ok is false when the packet reopened a closed TCP
// connection: the old one is gone and the packet is a miss.
func (t *table[T]) update(sh *shard[T], idx uint32, dir Dir, m *Meta, now int64) (State, bool) {
	e := &t.entries[idx]
	var r result
	switch tailOf(&e.orig).Proto {
	case packet.ProtoTCP:
		r = tcpUpdate(&e.conn, dir, m, t.liberal)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		r = icmpUpdate(&e.conn, dir, m)
	default:
		r = otherUpdate(&e.conn, dir)
	}
	switch r.verdict {
	case verdictInvalid:
		sh.stats.InvalidPackets++
		return Tracked | Invalid, true
	case verdictReopen:
		if t.removeHeld(t.owner(idx), idx, false, now) {
			sh.stats.Deleted++
		}
		return 0, false
	}
	if dir == DirReply {
		e.flags |= flagSeenReply
	}
	e.packets[dir]++
	e.bytes[dir] += uint64(m.Len)
	if r.refresh {
		t.refresh(sh, idx, r.class, now)
	}
	return t.state(e, dir), true
}

// state is the ct_state of a tracked, valid packet of e in direction dir.
func (t *table[T]) state(e *entry[T], dir Dir) State {
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
func (t *table[T]) Peek(k T, now int64) (match[T], bool) {
	sh, idx, dir, ok := t.locate(&k)
	if !ok {
		return match[T]{State: Tracked | New}, false
	}
	defer sh.mu.Unlock()
	if t.entries[idx].expires <= now {
		return match[T]{State: Tracked | New}, false
	}
	e := &t.entries[idx]
	return match[T]{Handle: t.handle(idx), Dir: dir, Orig: e.orig, Reply: e.reply, Mark: e.mark, State: t.state(e, dir)}, true
}

// commitTries bounds how often Commit starts over when another worker
// changed what it saw (took the chosen reply tuple, committed the same
// connection, filled the chosen shard).
const commitTries = 4

// Commit creates the connection for k as its orig tuple; ch picks the reply
// tuple (nil: k.Reverse(), no NAT). It returns the match as seen by this
// packet (Tracked|New plus NAT bits). If k already belongs to a connection
// (another worker won the race) it behaves like Lookup.
//
// The reply is chosen without locks (Taken looks at one region at a time);
// the connection is then inserted holding its owner's and both regions'
// locks, after checking again that neither tuple is taken.
func (t *table[T]) Commit(k T, m *Meta, now int64, ch replyChooser[T]) (match[T], error) {
	if m == nil {
		m = &zeroMeta
	}
	pk := t.placeOf(&k)
	for try := 1; ; try++ {
		// The first try goes straight to the insert, which looks for k
		// under its locks anyway: the pipeline commits right after a
		// Lookup missed, and probing again first would only repeat that.
		// Later tries, and a packet that cannot start a connection, look k
		// up first, so that an existing connection is tracked as Lookup
		// would and errors are only reported for a k that is absent.
		optimistic := try == 1 && validNew(tailOf(&k).Proto, m)
		if !optimistic {
			var mt match[T]
			if t.track(&k, m, now, &mt) {
				return mt, nil
			}
			if !validNew(tailOf(&k).Proto, m) {
				t.count(&k, func(s *Stats) { s.InvalidPackets++ })
				return match[T]{State: Tracked | Invalid}, ErrInvalid
			}
		}
		var reply T
		if is4[T]() { // reverseOf, dispatched here so that Reverse inlines
			*as4(&reply) = as4(&k).Reverse()
		} else {
			*as6(&reply) = as6(&k).Reverse()
		}
		held := false
		if ch != nil {
			v := t.claimView(pk.r)
			r, ok := ch.ChooseReply(k, v)
			held = v.release() && ok
			if !ok {
				// Asking the chooser again would count its exhaustion
				// twice: only look whether k exists after all.
				if optimistic {
					var mt match[T]
					if t.track(&k, m, now, &mt) {
						return mt, nil
					}
				}
				t.count(&k, func(s *Stats) { s.NoReplyDrops++ })
				return match[T]{State: Tracked | New}, ErrNoReply
			}
			reply = r
		}
		if reply == k || tailOf(&reply).Zone != tailOf(&k).Zone || tailOf(&reply).Proto != tailOf(&k).Proto {
			t.giveBack(&k, &reply, held)
			switch {
			case optimistic:
				continue
			case reply == k:
				// Both directions would have one key (src == dst, sport == dport).
				t.count(&k, func(s *Stats) { s.InvalidPackets++ })
				return match[T]{State: Tracked | Invalid}, ErrInvalid
			}
			t.count(&k, func(s *Stats) { s.NoReplyDrops++ })
			return match[T]{State: Tracked | New}, ErrNoReply
		}
		mt, err, again := t.insertConn(&k, pk, &reply, m, now, ch != nil && try < commitTries, held)
		if err != nil || again {
			// The connection was not created: it holds nothing.
			t.giveBack(&k, &reply, held)
		}
		if !again {
			return mt, err
		}
		if try == commitTries {
			t.count(&k, func(s *Stats) { s.NoReplyDrops++ })
			return match[T]{State: Tracked | New}, ErrNoReply
		}
	}
}

// giveBack tells the Releaser that a commit whose chooser called Hold
// did not create its connection orig → reply, so that the reference the
// chooser took for it is returned. No lock is held.
func (t *table[T]) giveBack(orig, reply *T, held bool) {
	if held && t.released != nil {
		t.released.Release(*orig, *reply, true)
	}
}

// count bumps a counter of the shard k hashes to, for outcomes that hold
// no lock when they are known.
func (t *table[T]) count(k *T, f func(*Stats)) {
	sh := &t.shards[t.regionOf(k)]
	sh.mu.Lock()
	f(&sh.stats)
	sh.mu.Unlock()
}

// insertConn inserts the connection k → reply. again asks Commit to start
// over: k was committed meanwhile (or an expired connection still holds
// it), or (if retryReply) reply was taken. The owner is k's region shard
// if it has room, which keeps a lookup by k to one lock; else, after
// reaping there, any shard with room.
func (t *table[T]) insertConn(k *T, pk placed, reply *T, m *Meta, now int64, retryReply, held bool) (mt match[T], err error, again bool) {
	hk, a, homeK := pk.h, pk.r, pk.home
	pr := t.placeOf(reply)
	hr, b, homeR := pr.h, pr.r, pr.home
	c := a
	if t.shards[c].full.Load() {
		// Do not lock a full shard only to find it full: reap there first
		// and, if that frees nothing, take another shard.
		if t.reap(c, now, reapOnFull) == 0 {
			if c = t.shardWithRoom(c); c == nilIdx {
				t.count(k, func(s *Stats) { s.FullDrops++ })
				return match[T]{State: Tracked | New}, ErrFull, false
			}
		}
	}
	for try := 0; ; try++ {
		set, n := t.lockSet(a, b, c)
		// Load the entry[T] create would take now, so that its cache miss
		// overlaps the index probes below instead of following them.
		next := t.nextFree(&t.shards[c])
		if _, _, taken := t.findIn(a, homeK, hk, k); taken {
			t.unlockSet(set, n)
			return mt, nil, true
		}
		if _, _, taken := t.findIn(b, homeR, hr, reply); taken {
			if retryReply {
				t.unlockSet(set, n)
				return mt, nil, true
			}
			t.shards[a].stats.NoReplyDrops++
			t.unlockSet(set, n)
			return match[T]{State: Tracked | New}, ErrNoReply, false
		}
		room := t.roomFor(a, 1) && t.roomFor(b, 1) && (a != b || t.roomFor(a, 2))
		cs := &t.shards[c]
		if room && cs.live < int32(cs.size) {
			cs.seen(now)
			mt = t.create(cs, k, pk, reply, pr, m, now, held, next)
			t.unlockSet(set, n)
			return mt, nil, false
		}
		t.unlockSet(set, n)
		switch {
		case !room:
		case try == 0 && t.reap(c, now, reapOnFull) > 0:
			continue
		default:
			if c = t.shardWithRoom(c); c != nilIdx && try <= len(t.shards) {
				continue
			}
		}
		t.count(k, func(s *Stats) { s.FullDrops++ })
		return match[T]{State: Tracked | New}, ErrFull, false
	}
}

// shardWithRoom returns the next shard after c with a free entry[T], or
// nilIdx: the table is full. Full shards are skipped without their lock.
func (t *table[T]) shardWithRoom(c uint32) uint32 {
	for off := 1; off < len(t.shards); off++ {
		x := (c + uint32(off)) % uint32(len(t.shards))
		sh := &t.shards[x]
		if sh.size == 0 || sh.full.Load() {
			continue
		}
		sh.mu.Lock()
		room := sh.live < int32(sh.size)
		sh.mu.Unlock()
		if room {
			return x
		}
	}
	return nilIdx
}

// create allocates and indexes connection k → reply in shard sh. The
// caller holds sh and both tuples' regions.
func (t *table[T]) create(sh *shard[T], k *T, pk placed, reply *T, pr placed, m *Meta, now int64, held bool, next uint32) match[T] {
	idx := t.alloc(sh, next)
	e := &t.entries[idx]
	// Field by field: lock-free probes may read the tuples (of the
	// connection this slot held before) at any time, so they are only
	// written atomically (storeTuple), before the keys are indexed.
	e.reset(e.gen)
	if is4[T]() { // natState, dispatched here so that natState4 inlines
		e.flags = natState4(as4(k), as4(reply))
	} else {
		e.flags = natState6(as6(k), as6(reply))
	}
	if held {
		e.flags |= flagHeld
	}
	storeTuple(&e.orig, k)
	storeTuple(&e.reply, reply)
	var c class
	switch tailOf(k).Proto {
	case packet.ProtoTCP:
		c = tcpNew(&e.conn, m)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		c = icmpNew(&e.conn, m)
	default:
		c = clsUDPFirst
	}
	e.class = c
	e.expires = now + t.timeout[c]
	t.link(sh, idx, c)
	t.insert(&e.orig, pk, idx, DirOrig)
	t.insert(&e.reply, pr, idx, DirReply)
	sh.live++
	if sh.live == int32(sh.size) {
		sh.full.Store(true)
	}
	sh.stats.Created++
	e.packets[DirOrig] = 1
	e.bytes[DirOrig] = uint64(m.Len)
	return match[T]{Handle: t.handle(idx), Dir: DirOrig, State: t.state(e, DirOrig), Orig: *k, Reply: *reply}
}

// LookupRelated tracks an ICMP (or, in a Table6, ICMPv6) error whose
// embedded datagram has tuple inner, as written in the embedded header. As OVS does, the reversed inner
// tuple is looked up first: the embedded datagram left this point after NAT,
// so its reverse is a tuple of the connection in the direction the error
// travels. Failing that, inner itself is tried as a direction tuple, the
// error then travelling the other way. Both agree on connections without
// NAT. The packet is counted; no state or expiry changes.
func (t *table[T]) LookupRelated(inner T, m *Meta, now int64) (match[T], bool) {
	if m == nil {
		m = &zeroMeta
	}
	rev := reverseOf(&inner)
	for i, k := range [2]*T{&rev, &inner} {
		sh, idx, dir, ok := t.locate(k)
		if !ok {
			continue
		}
		sh.seen(now)
		if t.liveOrReap(sh, idx, now) {
			dir ^= Dir(i)
			e := &t.entries[idx]
			e.packets[dir]++
			e.bytes[dir] += uint64(m.Len)
			s := Tracked | Related | State(e.flags&flagNATMask)
			if dir == DirReply {
				s |= ReplyDir
			}
			mt := match[T]{Handle: t.handle(idx), Dir: dir, State: s, Orig: e.orig, Reply: e.reply}
			sh.mu.Unlock()
			return mt, true
		}
		sh.mu.Unlock()
	}
	t.count(&inner, func(s *Stats) { s.InvalidPackets++ })
	return match[T]{State: Tracked | Invalid}, false
}

// Releaser hears of every connection the table removes (expiry, Delete,
// eviction, a SYN replacing a closed connection), with the connection's shard locked:
// NAT's endpoint-independent mappings count their connections with it.
// held says whether the connection's ReplyChooser called Holder.Hold when
// it was committed. It also hears, with no lock held and held = true, of
// a connection a Commit did not create after its chooser called Hold (see
// Holder). Release must be quick and must not call back into the table.
type Releaser = releaser[Tuple]

// Releaser6 is Releaser for IPv6 connections.
type Releaser6 = releaser[Tuple6]

type releaser[T tupleKey] interface {
	Release(orig, reply T, held bool)
}

// SetReleaser sets the table's Releaser; call it before any connection is
// committed.
func (t *table[T]) SetReleaser(r releaser[T]) {
	t.released = r
}

// Delete removes the connection h names; false if h is stale.
func (t *table[T]) Delete(h Handle) bool {
	sh, idx, ok := t.lockHandle(h)
	if !ok {
		return false
	}
	defer sh.mu.Unlock()
	if !t.removeHeld(t.owner(idx), idx, false, 0) {
		return false
	}
	sh.stats.Deleted++
	return true
}

// Len is the number of live connections (expired ones not yet reaped
// included).
func (t *table[T]) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += int(sh.live)
		sh.mu.Unlock()
	}
	return n
}

// Stats returns the counters, summed over the shards.
func (t *table[T]) Stats() Stats {
	var s Stats
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		st := sh.stats
		s.Capacity += int(sh.size)
		s.Entries += int(sh.live)
		sh.mu.Unlock()
		s.Created += st.Created
		s.Expired += st.Expired
		s.Deleted += st.Deleted
		s.FullDrops += st.FullDrops
		s.NoReplyDrops += st.NoReplyDrops
		s.InvalidPackets += st.InvalidPackets
	}
	return s
}

// lastNow is the latest clock value any shard has seen.
func (t *table[T]) lastNow() int64 {
	var now int64
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		now = max(now, sh.lastNow)
		sh.mu.Unlock()
	}
	return now
}

// Touch credits packets and bytes forwarded outside the table (the XDP
// fast path) to h in direction dir and pushes its expiry out from lastSeen.
// Reply traffic promotes UDP and ICMP connections as a reply seen here
// would; TCP state is left alone (the fast path punts FIN and RST).
func (t *table[T]) Touch(h Handle, dir Dir, packets, bytes uint64, lastSeen int64) bool {
	if dir > DirReply {
		return false
	}
	sh, idx, ok := t.lockHandle(h)
	if !ok {
		return false
	}
	defer sh.mu.Unlock()
	e := &t.entries[idx]
	e.packets[dir] += packets
	e.bytes[dir] += bytes
	if packets == 0 {
		return true
	}
	c := e.class
	switch tailOf(&e.orig).Proto {
	case packet.ProtoTCP:
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if dir == DirReply {
			c = clsICMPReply
		}
	default:
		c = otherUpdate(&e.conn, dir).class
	}
	if dir == DirReply {
		e.flags |= flagSeenReply
	}
	t.refresh(sh, idx, c, lastSeen)
	return true
}

// SetMark sets the connection's ct_mark.
func (t *table[T]) SetMark(h Handle, mark uint32) bool {
	sh, idx, ok := t.lockHandle(h)
	if ok {
		t.entries[idx].mark = mark
		sh.mu.Unlock()
	}
	return ok
}

// connInfo[T] is a snapshot of one IPv4 connection.
type ConnInfo = connInfo[Tuple]

// ConnInfo6 is a snapshot of one IPv6 connection.
type ConnInfo6 = connInfo[Tuple6]

type connInfo[T tupleKey] struct {
	Handle         Handle
	Orig, Reply    T
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

func (t *table[T]) info(idx uint32) connInfo[T] {
	e := &t.entries[idx]
	ci := connInfo[T]{
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
	switch tailOf(&e.orig).Proto {
	case packet.ProtoTCP:
		ci.TCP = coalesceTCP(e.tcp[0].state, e.tcp[1].state)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		ci.ICMPType = e.icmpType()
	}
	return ci
}

// Get returns a snapshot of the connection h names.
func (t *table[T]) Get(h Handle) (connInfo[T], bool) {
	sh, idx, ok := t.lockHandle(h)
	if !ok {
		return connInfo[T]{}, false
	}
	defer sh.mu.Unlock()
	return t.info(idx), true
}

// rangeChunk bounds how long Range holds a shard's lock at a time.
const rangeChunk = 256

// Range calls fn for each connection until fn returns false. It copies
// connections in small chunks under their shard's lock and calls fn
// without it, so fn may call back into the table. Each connection present
// for the whole iteration is visited exactly once; ones created or removed
// meanwhile may or may not be.
func (t *table[T]) Range(fn func(connInfo[T]) bool) {
	var buf [rangeChunk]connInfo[T]
	for s := range t.shards {
		sh := &t.shards[s]
		for next := sh.base; ; {
			n := 0
			sh.mu.Lock()
			end := sh.hiwater
			for ; next < end && n < rangeChunk; next++ {
				if t.entries[next].class != classFree {
					buf[n] = t.info(next)
					n++
				}
			}
			sh.mu.Unlock()
			for i := 0; i < n; i++ {
				if !fn(buf[i]) {
					return
				}
			}
			if next >= end {
				break
			}
		}
	}
}
