package conntrack

import (
	"encoding/binary"
	"math/bits"
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

// tupleMask keeps every byte of a Tuple's second word but the blank one.
var tupleMask = func() uint64 {
	all := Tuple{SrcPort: 0xffff, DstPort: 0xffff, Proto: 0xff, Zone: 0xffff}
	return binary.LittleEndian.Uint64((*[16]byte)(unsafe.Pointer(&all))[8:])
}()

func sameTuple(x, y *Tuple) bool {
	xa, xb := words(x)
	ya, yb := words(y)
	return xa == ya && xb == yb
}

// hash mixes a tuple with the table's random seed (so that remote hosts
// cannot aim flows at one cluster) using two 64×64→128 multiplies.
func (t *Table) hash(k *Tuple) uint64 {
	a, b := words(k)
	hi, lo := bits.Mul64(a^t.seed[0], b^t.seed[1])
	hi, lo = bits.Mul64(hi^lo^t.seed[2], 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// home is the first slot probed for hash h.
func (t *Table) home(h uint64) uint32 {
	return uint32((uint64(uint32(h)) * uint64(len(t.slots))) >> 32)
}

func (t *Table) tag(h uint64) uint32 { return uint32(h>>32) >> t.refBits << t.refBits }

// find returns the slot and direction whose tuple equals k.
func (t *Table) find(k *Tuple) (uint32, Dir, bool) {
	h := t.hash(k)
	tag := t.tag(h)
	mask := uint32(1)<<t.refBits - 1
	n := uint32(len(t.slots))
	for i := t.home(h); ; {
		s := t.slots[i]
		if s == 0 {
			return 0, 0, false
		}
		if s&^mask == tag {
			ref := s&mask - 1
			idx, dir := ref>>1, Dir(ref&1)
			if sameTuple(t.entries[idx].key(dir), k) {
				return idx, dir, true
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// insert adds k → (idx, dir). k must not be present.
func (t *Table) insert(k *Tuple, idx uint32, dir Dir) {
	h := t.hash(k)
	n := uint32(len(t.slots))
	i := t.home(h)
	for t.slots[i] != 0 {
		if i++; i == n {
			i = 0
		}
	}
	t.slots[i] = t.tag(h) | (idx*2 + uint32(dir) + 1)
}

// erase removes k, which must be present, and closes the gap by moving
// back every later member of the cluster whose home lies at or before it.
func (t *Table) erase(k *Tuple) {
	h := t.hash(k)
	mask := uint32(1)<<t.refBits - 1
	n := uint32(len(t.slots))
	i := t.home(h)
	for {
		s := t.slots[i]
		if s == 0 {
			return // not present; callers never get here
		}
		ref := s&mask - 1
		if sameTuple(t.entries[ref>>1].key(Dir(ref&1)), k) {
			break
		}
		if i++; i == n {
			i = 0
		}
	}
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		s := t.slots[j]
		if s == 0 {
			break
		}
		ref := s&mask - 1
		home := t.home(t.hash(t.entries[ref>>1].key(Dir(ref & 1))))
		// Move s into the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = 0
}
