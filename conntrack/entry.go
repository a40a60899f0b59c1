package conntrack

// entry is one connection in the slab: its two tuples and its state. Its
// size (112 bytes for IPv4, 160 for IPv6) is part of the per-connection
// memory budget; see the package doc before adding fields.
type entry[T tupleKey] struct {
	orig, reply T
	conn
}

// conn is the family-independent part of an entry, which the protocol
// state machines work on.
type conn struct {
	expires    int64 // ns on the caller's clock
	packets    [2]uint64
	bytes      [2]uint64
	prev, next uint32     // expiry list (or free list: next only)
	tcp        [2]tcpPeer // per direction; ICMP keeps its request type in tcp[0].state
	mark       uint32
	gen        uint16 // handle generation, bumped on free
	class      class  // timeout class and list; classFree when unused
	flags      uint8  // flagSeenReply, flagLiberal, flagHeld, NAT State bits
}

// reset clears every field but the tuples and sets the generation.
func (e *conn) reset(gen uint16) {
	e.expires = 0
	e.packets, e.bytes = [2]uint64{}, [2]uint64{}
	e.prev, e.next = nilIdx, nilIdx
	e.tcp = [2]tcpPeer{}
	e.mark, e.gen, e.class, e.flags = 0, gen, 0, 0
}

const (
	flagSeenReply = 0x01
	flagLiberal   = 0x02 // skip TCP window checks for this connection (SetLiberal)
	flagHeld      = 0x04 // its ReplyChooser called Holder.Hold: Release gets held = true
	flagNATMask   = uint8(SrcNAT | DstNAT)
)

// key returns the tuple of direction d.
func (e *entry[T]) key(d Dir) *T {
	if d == DirOrig {
		return &e.orig
	}
	return &e.reply
}

// Handle names a connection. The zero Handle is never valid.
type Handle uint32

// handle returns the Handle of slot idx.
func (t *table[T]) handle(idx uint32) Handle {
	return Handle(uint32(t.entries[idx].gen)<<t.idxBits | idx)
}

// alloc takes a slot of shard sh, which must have room: never-used slots
// first, then freed ones in FIFO order, so that a slot's generation
// advances as slowly as possible.
//
// next is nextFree(sh), read earlier under the same lock.
func (t *table[T]) alloc(sh *shard[T], next uint32) uint32 {
	if sh.hiwater < sh.base+sh.size {
		idx := sh.hiwater
		sh.hiwater++
		t.entries[idx].gen = 1
		return idx
	}
	idx := sh.freeHead
	sh.freeHead = next
	if sh.freeHead == nilIdx {
		sh.freeTail = nilIdx
	}
	return idx
}

// nextFree reads the entry alloc(sh) would take next and returns what
// alloc needs of it: the free list's next link (or, for a never-used
// entry, its generation, which alloc does not need). The caller holds
// sh; the read brings the entry into the cache ahead of create.
func (t *table[T]) nextFree(sh *shard[T]) uint32 {
	if sh.hiwater < sh.base+sh.size {
		return uint32(t.entries[sh.hiwater].gen)
	}
	if sh.freeHead == nilIdx {
		return nilIdx
	}
	return t.entries[sh.freeHead].next
}

// free returns slot idx to the tail of its shard's free list with a new
// generation.
func (t *table[T]) free(sh *shard[T], idx uint32) {
	e := &t.entries[idx]
	gen := e.gen + 1
	if uint32(gen) >= 1<<t.genBits || gen == 0 {
		gen = 1
	}
	// The tuples stay: lock-free probes may be reading them (create
	// overwrites them atomically).
	e.reset(gen)
	e.class = classFree
	if sh.freeTail == nilIdx {
		sh.freeHead = idx
	} else {
		t.entries[sh.freeTail].next = idx
	}
	sh.freeTail = idx
}
