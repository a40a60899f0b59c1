package datapath

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// prefetch touches, for the whole batch, the flow-cache lines each packet
// will probe, before any packet is processed: the two tag sets of its key
// and the first line of the entries whose tag matches. Issued back to
// back, the misses overlap; taken one packet at a time in fast(), each
// stalls alone (a cold entry costs a memory access, a line another CPU
// wrote 200-340 ns on these VMs).
//
// It only needs the key's hash, so it reads the key straight from fixed
// offsets for the common shapes (untagged IPv4 UDP/TCP, Geneve with any
// options) and skips anything else; a wrong guess costs a useless load,
// never a wrong verdict: fast() parses and checks everything again.
//
// It keeps each peeked key, its hash and the first way whose tag matched,
// so that fast(), when the key it parsed is the one peeked, neither
// hashes again nor scans the tags (peekedHash): it verifies that one way.
// It returns how many slots of batch it covered.
func (w *Worker) prefetch(batch []Packet) int {
	c := w.cache
	n := min(len(batch), len(w.hashes))
	var t uint32
	for i := range n {
		ok := peekKey(&batch[i], &w.keys[i])
		w.peeked[i] = ok
		if ok {
			h := w.keys[i].Hash()
			w.hashes[i] = h
			a, b, _ := sets(h)
			t += c.tags[a][0] + c.tags[b][0]
		}
	}
	for i := range n {
		w.ways[i] = -1
		if !w.peeked[i] {
			continue
		}
		a, b, tag := sets(w.hashes[i])
		for _, set := range [2]uint32{a, b} {
			for way, tg := range &c.tags[set] {
				if tg == tag {
					j := int(set)*flowCacheWays + way
					t += c.slots[j].epoch
					if w.ways[i] < 0 {
						w.ways[i] = int32(j)
					}
				}
			}
		}
	}
	w.touch += t
	return n
}

// peekedHash returns the hash of k and the cache entry that held it, as
// prefetch found them for the packet in the slot Process is running, when
// prefetch peeked exactly key k for it (so that fast() neither hashes
// again nor scans the tags); way is -1 when no tag matched then.
func (w *Worker) peekedHash(k *flow.Key) (h uint64, way int, ok bool) {
	s := w.slot - 1
	if s < 0 || !w.peeked[s] || w.keys[s] != *k {
		return 0, -1, false
	}
	return w.hashes[s], int(w.ways[s]), true
}

// peekKey writes the flow-cache key of pkt into k, if pkt has a shape it
// can read without parsing (see prefetch).
func peekKey(pkt *Packet, k *flow.Key) bool {
	f := pkt.Frame()
	*k = flow.Key{InPort: pkt.InPort}
	switch pkt.InPort {
	case flow.Underlay:
		// Outer Ethernet, IPv4 without options, UDP, Geneve.
		const gen = packet.EthernetLen + 20 + 8
		if len(f) < gen+8 || binary.BigEndian.Uint16(f[12:]) != packet.EtherTypeIPv4 || f[14] != 0x45 {
			return false
		}
		inner := gen + 8 + int(f[gen]&0x3f)*4
		if len(f) < inner+packet.EthernetLen {
			return false
		}
		k.VNI = uint32(f[gen+4])<<16 | uint32(f[gen+5])<<8 | uint32(f[gen+6])
		copy(k.InnerDst[:], f[inner:inner+6])
		f = f[inner:]
	case flow.External:
	default:
		return false
	}
	const l4 = packet.EthernetLen + 20
	if len(f) < l4+4 || binary.BigEndian.Uint16(f[12:]) != packet.EtherTypeIPv4 || f[14] != 0x45 {
		return false
	}
	k.Proto = f[14+9]
	if k.Proto != packet.ProtoUDP && k.Proto != packet.ProtoTCP {
		return false
	}
	copy(k.Src[:], f[14+12:])
	copy(k.Dst[:], f[14+16:])
	k.SrcPort = binary.BigEndian.Uint16(f[l4:])
	k.DstPort = binary.BigEndian.Uint16(f[l4+2:])
	return true
}
