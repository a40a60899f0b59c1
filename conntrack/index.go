package conntrack

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The index maps both tuples of every connection to its slot. It is an
// open-addressing table with linear probing over slots []uint32, sized at
// 3 slots per connection of capacity (load ≤ 2/3), so it never fills and
// a miss ends at an empty slot after a few probes, all in one or two cache
// lines. A slot holds
//
//	tag<<refBits | ref,  ref = idx*2 + dir + 1 (so 0 means empty)
//
// where tag is the top bits of the key's hash: a probe reads the entry only
// when the tag matches. Deletion shifts the following cluster back instead
// of leaving tombstones, so probe lengths never degrade.

// words reads a Tuple as two machine words, with its blank padding byte
// masked out so that word equality is exactly Tuple ==. Two loads beat
// comparing seven fields on every probe.
func words(k *Tuple) (uint64, uint64) {
	b := (*[16]byte)(unsafe.Pointer(k))
	return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]) & tupleMask
}

// words6 is words for a Tuple6: five words, the last masked as Tuple's
// second (their last 8 bytes share a layout).
func words6(k *Tuple6) [5]uint64 {
	b := (*[40]byte)(unsafe.Pointer(k))
	return [5]uint64{
		binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]),
		binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:]),
		binary.LittleEndian.Uint64(b[32:]) & tupleMask,
	}
}

// tupleMask keeps every byte of a Tuple's second word but the blank one.
var tupleMask = func() uint64 {
	all := Tuple{SrcPort: 0xffff, DstPort: 0xffff, Proto: 0xff, Zone: 0xffff}
	return binary.LittleEndian.Uint64((*[16]byte)(unsafe.Pointer(&all))[8:])
}()

// loadWord atomically loads word i of the tuple at p.
func loadWord(p unsafe.Pointer, i uintptr) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Add(p, 8*i)))
}

// loadWords is words for a tuple in the slab that a lock-free probe reads
// while a writer may store it (storeTuple): the loads are atomic.
func loadWords(k *Tuple) (uint64, uint64) {
	p := unsafe.Pointer(k)
	return loadWord(p, 0), loadWord(p, 1) & tupleMask
}

// loadEqual6 is loadEqual for IPv6 tuples.
func loadEqual6(e, k *Tuple6) bool {
	kw := words6(k)
	p := unsafe.Pointer(e)
	return loadWord(p, 0) == kw[0] && loadWord(p, 1) == kw[1] && loadWord(p, 2) == kw[2] &&
		loadWord(p, 3) == kw[3] && loadWord(p, 4)&tupleMask == kw[4]
}

// storeTuple writes src into the slab tuple dst for lock-free probes
// (probe) that read it concurrently. dst is 8-byte aligned (entry's first
// field, and each tuple a whole number of words). Under the race detector
// the stores are atomic. In
// other builds they are plain: an atomic store is an XCHG on amd64, a full
// barrier that makes the commit wait for the entry's cache line, where a
// plain store sits in the store buffer. The keys are published by the
// atomic slot store in insert, which comes after these stores in program
// order (and atomics are compiler barriers), and what a probe reads from
// a tuple is only a candidate, checked again under the owner's lock: a
// torn read of a tuple being rewritten can only miss or be rejected.
func storeTuple[T tupleKey](dst, src *T) {
	if !raceEnabled {
		*dst = *src
		return
	}
	p := unsafe.Pointer(dst)
	if is4[T]() {
		a, b := words(as4(src))
		atomic.StoreUint64((*uint64)(p), a)
		atomic.StoreUint64((*uint64)(unsafe.Add(p, 8)), b)
		return
	}
	for i, w := range words6(as6(src)) {
		atomic.StoreUint64((*uint64)(unsafe.Add(p, 8*i)), w)
	}
}

// sameTuple reports whether x and y are equal tuples (the blank byte
// aside). The hot callers write its dispatch out (hash4 says why).
func sameTuple[T tupleKey](x, y *T) bool {
	if is4[T]() {
		return same4(as4(x), as4(y))
	}
	return same6(as6(x), as6(y))
}

func same4(x, y *Tuple) bool {
	xa, xb := words(x)
	ya, yb := words(y)
	return xa == ya && xb == yb
}

// hash4 mixes an IPv4 tuple with the table's random seed (so that remote
// hosts cannot aim flows at one cluster) using two 64×64→128 multiplies;
// place6 hashes an IPv6 tuple.
//
// The family dispatch (is4) sits in the table's callers that are not
// inlined anyway (place, probe, findIn, locate, erase, create, Commit),
// which call these per-family functions: the inliner counts both branches
// of a generic function, so a generic hash (or sameTuple) would no longer
// be inlined into the IPv4 table's hot paths, as hash4 (same4) is.
func hash4(seed *[3]uint64, k *Tuple) uint64 {
	a, b := words(k)
	hi, lo := bits.Mul64(a^seed[0], b^seed[1])
	hi, lo = bits.Mul64(hi^lo^seed[2], 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// zoneMask covers Zone in a Tuple's second word (words).
var zoneMask = func() uint64 {
	z := Tuple{Zone: 0xffff}
	return binary.LittleEndian.Uint64((*[16]byte)(unsafe.Pointer(&z))[8:])
}()

// zhash4 is the hash of k without its zone. It picks k's region, so that
// a flow's connections in its router's zones, whose orig tuples differ
// only in the zone, share a shard: the flow cache updates both under one
// lock (UpdatePair).
func zhash4(seed *[3]uint64, k *Tuple) uint64 {
	a, b := words(k)
	hi, lo := bits.Mul64(a^seed[1], (b&^zoneMask)^seed[2])
	return hi ^ lo
}

// place6 is hash and zhash of an IPv6 tuple, reading its words once: the
// words folded pairwise by seeded multiplies, then mixed as hash4 mixes.
// The zone-less hash, which only picks the region, takes one multiply.
func place6(seed *[3]uint64, k *Tuple6) (h, hz uint64) {
	w := words6(k)
	hi, lo := bits.Mul64(w[0]^seed[0], w[1]^seed[1])
	x := hi ^ lo
	hi, lo = bits.Mul64(w[2]^seed[2], w[3]^seed[0])
	y := hi ^ lo
	hi, lo = bits.Mul64(x^w[4]^seed[1], y^seed[2])
	hi, lo = bits.Mul64(hi^lo, 0x9e3779b97f4a7c15)
	h = hi ^ lo
	hi, lo = bits.Mul64(w[0]^w[3]^seed[1], w[1]^w[2]^(w[4]&^zoneMask)^seed[2])
	return h, hi ^ lo
}

// same6 is Tuple6 equality as word compares (the blank byte masked).
func same6(x, y *Tuple6) bool {
	a, b := words6(x), words6(y)
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4]
}

// placed is where a key goes: its hash, region and home slot.
type placed struct {
	h       uint64
	r, home uint32
}

// placeOf is place as one value, for a caller that keeps it.
func (t *table[T]) placeOf(k *T) (p placed) {
	p.h, p.r, p.home = t.place(k)
	return p
}

// place returns k's hash, region and home slot.
func (t *table[T]) place(k *T) (h uint64, r, home uint32) {
	var hz uint64
	if is4[T]() {
		h, hz = hash4(&t.seed, as4(k)), zhash4(&t.seed, as4(k))
	} else {
		h, hz = place6(&t.seed, as6(k))
	}
	r, home = t.region(h, hz)
	return h, r, home
}

func (t *table[T]) tag(h uint64) uint32 { return uint32(h>>32) >> t.refBits << t.refBits }

// find returns the slot and direction whose tuple equals k. The caller
// holds k's region lock.
func (t *table[T]) find(k *T) (uint32, Dir, bool) {
	h, r, home := t.place(k)
	return t.findIn(r, home, h, k)
}

// findIn is find with k's hash h, region r and home slot already known.
// Probes wrap around inside the region.
func (t *table[T]) findIn(r, home uint32, h uint64, k *T) (uint32, Dir, bool) {
	tag := t.tag(h)
	mask := uint32(1)<<t.refBits - 1
	lo, end := r*t.regionSize, (r+1)*t.regionSize
	for i := home; ; {
		s := t.slots[i]
		if s == 0 {
			return 0, 0, false
		}
		if s&^mask == tag {
			ref := s&mask - 1
			idx, dir := ref>>1, Dir(ref&1)
			e := t.entries[idx].key(dir)
			// sameTuple, dispatched here so that same4 inlines (hash4 says why).
			if is4[T]() && same4(as4(e), as4(k)) || !is4[T]() && same6(as6(e), as6(k)) {
				return idx, dir, true
			}
		}
		if i++; i == end {
			i = lo
		}
	}
}

// probe is findIn without the region's lock: it reads slots and slab
// tuples with atomic loads, and valid is false when an erase ran in region
// r meanwhile (its backward shift may have moved k past the probe), in
// which case the caller probes again under the lock. A hit is only a
// candidate: the caller checks it under the owner's lock.
func (t *table[T]) probe(r, home uint32, h uint64, k *T) (idx uint32, dir Dir, ok, valid bool) {
	seq := &t.shards[r].seq
	s0 := seq.Load()
	if s0&1 != 0 {
		return 0, 0, false, false
	}
	tag := t.tag(h)
	mask := uint32(1)<<t.refBits - 1
	lo, end := r*t.regionSize, (r+1)*t.regionSize
	var ka, kb uint64
	if is4[T]() {
		ka, kb = words(as4(k))
	}
	for i := home; ; {
		s := atomic.LoadUint32(&t.slots[i])
		if s == 0 {
			break
		}
		if s&^mask == tag {
			ref := s&mask - 1
			if ref>>1 < uint32(len(t.entries)) {
				e := t.entries[ref>>1].key(Dir(ref & 1))
				var hit bool
				if is4[T]() {
					ea, eb := loadWords(as4(e))
					hit = ea == ka && eb == kb
				} else {
					hit = loadEqual6(as6(e), as6(k))
				}
				if hit {
					idx, dir, ok = ref>>1, Dir(ref&1), true
					break
				}
			}
		}
		if i++; i == end {
			i = lo
		}
	}
	return idx, dir, ok, seq.Load() == s0
}

// roomFor reports whether region r can take n more keys. Regions are
// sized for 2/3 load on average; one that draws more than its share (7/8
// full) refuses, so that probes always end at an empty slot.
func (t *table[T]) roomFor(r uint32, n int) bool {
	return int(t.shards[r].keys)+n <= int(t.regionSize)*7/8
}

// insert adds k → (idx, dir); pk is placeOf(k). k must not be present;
// the caller holds its region lock and checked roomFor.
func (t *table[T]) insert(k *T, pk placed, idx uint32, dir Dir) {
	h, r, i := pk.h, pk.r, pk.home
	lo, end := r*t.regionSize, (r+1)*t.regionSize
	for t.slots[i] != 0 {
		if i++; i == end {
			i = lo
		}
	}
	// One atomic store publishes the key to lock-free probes; its tuple
	// was stored before.
	atomic.StoreUint32(&t.slots[i], t.tag(h)|(idx*2+uint32(dir)+1))
	t.shards[r].keys++
}

// erase removes k, which must be present, and closes the gap by moving
// back every later member of the cluster whose home lies at or before it.
// The caller holds k's region lock. Positions are relative to the region.
func (t *table[T]) erase(k *T) {
	_, r, home := t.place(k)
	mask := uint32(1)<<t.refBits - 1
	lo, n := r*t.regionSize, t.regionSize
	slots := t.slots[lo : lo+n]
	i := home - lo
	for {
		s := slots[i]
		if s == 0 {
			return // not present; callers never get here
		}
		ref := s&mask - 1
		e := t.entries[ref>>1].key(Dir(ref & 1))
		if is4[T]() && same4(as4(e), as4(k)) || !is4[T]() && same6(as6(e), as6(k)) {
			break
		}
		if i++; i == n {
			i = 0
		}
	}
	t.shards[r].keys--
	// The shift below moves keys backwards; a lock-free probe running
	// meanwhile could step past one, so it checks seq (odd while shifting).
	seq := &t.shards[r].seq
	seq.Add(1)
	defer seq.Add(1)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		s := slots[j]
		if s == 0 {
			break
		}
		ref := s&mask - 1
		_, _, abs := t.place(t.entries[ref>>1].key(Dir(ref & 1)))
		home := abs - lo
		// Move s into the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			atomic.StoreUint32(&slots[i], s)
			i = j
		}
	}
	atomic.StoreUint32(&slots[i], 0)
}
