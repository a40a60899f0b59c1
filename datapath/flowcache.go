package datapath

import (
	"unsafe"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// The flow cache is each worker's exact-match cache of established flows,
// in the spirit of OVS's EMC: the key of a packet as it arrives maps to
// what the pipeline did to the previous packet of that flow and to the
// flow's connection in each zone. A hit skips router selection, routing,
// both conntrack hash lookups and neighbour lookups: it parses, updates
// both connections by handle under one lock (same state machine, same
// counters), and applies the remembered rewrite.
//
// It stays exact because everything the remembered action depends on is
// checked on every hit: the plan (topology and NAT rules) by generation,
// neighbour MACs by the resolver's version, the connections by handle
// generation (an expired or replaced connection misses). Segments that
// change TCP state (SYN, FIN, RST), ICMP errors, fragments and anything
// unusual take the full pipeline, which also learns the flow again.

// The cache is per worker: 8k sets of 4 ways, 32k entries, enough for the
// two directions of 10k connections with room to spare (4 MB per worker).
// A key may live in either of two sets (see sets). A direct-mapped cache
// of this size loses a third of such a load to collisions, one set of 4
// ways 7%, two choices almost none. Entries are 128 bytes, two cache lines,
// and line aligned.
const (
	flowCacheWays = 4
	flowCacheSets = 1 << 13
)

// replaceEvery makes a flow displace another live entry only on one miss
// in that many (OVS's EMC does the same with emc-insert-inv-prob): with
// more flows than slots, replacing on every miss would make the cache
// thrash and cost more than it saves; heavy flows still get in quickly.
const replaceEvery = 8

type flowCache struct {
	// slots comes first: the cache is allocated on its own (a large,
	// page-aligned object), so every entry starts on a cache line.
	slots [flowCacheSets * flowCacheWays]cacheEntry
	// tags holds each way's tag, the top 32 bits of its key's hash (|1, so
	// 0 means empty), a set's four in 16 bytes: 128 KB that stay in L2,
	// so that a miss costs no read of an entry.
	tags   [flowCacheSets][flowCacheWays]uint32
	misses uint32 // conflict misses, for replaceEvery

	// epoch names the plan generation and neighbour version the cache
	// currently serves (sync); entries of another epoch never hit.
	epoch             uint32
	planGen, neighVer uint64
	victim            uint32 // the next way to replace

	// With many more active flows than slots the cache hits rarely and
	// only adds work. It then steps aside: over each window of lookups it
	// measures its hit rate and how often learning found both sets full, and
	// when hits are under 1/bypassBelow while conflicts are common (it is
	// thrashing, not warming up) it is consulted (and learns) on one
	// packet in bypassSample for the next bypassFor packets, which is
	// enough to notice the load changing back.
	lookups, hits, conflicts uint32
	bypass                   uint32

	// v6 is the IPv6 table (flowcache6.go), made at the first IPv6 flow
	// learnt; it serves this cache's epoch.
	v6 *flowCache6
}

const (
	cacheWindow  = 1 << 12
	bypassBelow  = 2 // hit rate under 1/2: below that the misses cost more than the hits save
	bypassFor    = 1 << 16
	bypassSample = 16
)

// consult reports whether this packet should try the cache (and teach it).
func (c *flowCache) consult() bool {
	if c.bypass == 0 {
		return true
	}
	c.bypass--
	return c.bypass%bypassSample == 0
}

// account records one lookup's outcome and decides about bypassing.
func (c *flowCache) account(hit bool) {
	c.lookups++
	if hit {
		c.hits++
	}
	if c.lookups < cacheWindow {
		return
	}
	if c.hits*bypassBelow < c.lookups && c.conflicts*4 >= c.lookups && c.bypass == 0 {
		c.bypass = bypassFor
	}
	c.lookups, c.hits, c.conflicts = 0, 0, 0
}

// sets returns the two sets key hash h may live in (two choices: with 4
// ways each, a 60% full cache almost never finds both full), and its tag.
func sets(h uint64) (a, b, tag uint32) {
	return uint32(h) & (flowCacheSets - 1), uint32(h>>16) & (flowCacheSets - 1), uint32(h>>32) | 1
}

// find returns the entry index of k (hash h) if a way of its sets holds it
// under the current plan and neighbours, or -1.
func (c *flowCache) find(k *flow.Key, h uint64) int {
	a, b, tag := sets(h)
	for _, set := range [2]uint32{a, b} {
		for way, t := range &c.tags[set] {
			if t != tag {
				continue
			}
			i := int(set)*flowCacheWays + way
			e := &c.slots[i]
			if e.epoch == c.epoch && e.act.Key == *k {
				return i
			}
		}
	}
	return -1
}

// at returns i if entry i holds k (hash h) under the current plan and
// neighbours, as find would, or -1 (also for i < 0): the check of the way
// prefetch saw k's tag in. A key is never in two ways (place reuses its
// own), so when at finds it, find would have returned the same entry.
func (c *flowCache) at(k *flow.Key, h uint64, i int) int {
	if i < 0 || i >= len(c.slots) || c.tags[i/flowCacheWays][i%flowCacheWays] != uint32(h>>32)|1 {
		return -1
	}
	if e := &c.slots[i]; e.epoch != c.epoch || e.act.Key != *k {
		return -1
	}
	return i
}

// drop forgets entry i.
func (c *flowCache) drop(i int) {
	c.tags[i/flowCacheWays][i%flowCacheWays] = 0
}

// place picks the way that learning k writes to: k's own, a free one
// (empty, or learned in an older epoch) in the
// emptier of its sets, or, on one conflict miss in replaceEvery, the next
// victim. ok is false when k should not displace anything now.
func (c *flowCache) place(k *flow.Key, h uint64) (i int, ok bool) {
	a, b, tag := sets(h)
	free, freeN := -1, 0
	for _, set := range [2]uint32{a, b} {
		base := int(set) * flowCacheWays
		first, n := -1, 0
		for way, t := range &c.tags[set] {
			e := &c.slots[base+way]
			if t == tag && e.act.Key == *k {
				return base + way, true
			}
			if t == 0 || e.epoch != c.epoch {
				if first < 0 {
					first = base + way
				}
				n++
			}
		}
		if n > freeN {
			free, freeN = first, n
		}
	}
	if free >= 0 {
		return free, true
	}
	c.conflicts++
	if c.misses++; c.misses%replaceEvery != 0 {
		return 0, false
	}
	c.victim++
	set := a
	if c.victim&flowCacheWays != 0 {
		set = b
	}
	return int(set)*flowCacheWays + int(c.victim%flowCacheWays), true
}

// cacheEntry is one learned flow direction: the action flow.Derive read
// off the pipeline, and the epoch it was learned in. Exactly 128 bytes;
// what a probe reads (epoch, key, connections) is in the first line.
type cacheEntry struct {
	epoch uint32
	act   flow.Action
	// outport is the OVN option's outport the flow's Geneve packets must
	// carry (the gateway router's join port key), when CheckOutport.
	outport uint16
	_       [128 - 4 - 2 - unsafe.Sizeof(flow.Action{})]byte
}

// sync starts a new epoch when the plan or the neighbour version changed
// since the last batch: every entry learned before then goes stale at
// once, without a walk. Epochs are per cache; on the (theoretical) wrap
// every tag is cleared so that no entry of an old epoch 1 comes back.
func (c *flowCache) sync(planGen, neighVer uint64) {
	if c.epoch != 0 && planGen == c.planGen && neighVer == c.neighVer {
		return
	}
	c.planGen, c.neighVer = planGen, neighVer
	if c.epoch++; c.epoch == 0 {
		clear(c.tags[:])
		if c.v6 != nil {
			clear(c.v6.tags[:])
		}
		c.epoch = 1
	}
}

// neighVersion reads the resolver's version, if it has one.
func (p *Pipeline) neighVersion() uint64 {
	if p.neighVer != nil {
		return p.neighVer.Version()
	}
	return 0
}

// fast forwards the packet from the flow cache. It returns false, with
// the frame untouched, when the packet must take the full pipeline.
func (w *Worker) fast(c *pktCtx) bool {
	pkt, pl := c.pkt, c.pl
	frame := pkt.Frame()
	p := &c.parsed
	var vni uint32
	var innerDst packet.MAC
	tunnelled := false
	var l3 []byte // the frame the action applies to (inner for Geneve)
	innerOff := 0
	switch pkt.InPort {
	case flow.Underlay:
		d := &c.dec
		if r := geneve.Decap(frame, d); r != geneve.OK {
			return r == geneve.NotGeneve && w.fast6(c, false) // IPv6 underlay
		}
		c.pre = preDecap
		if d.OuterDst != pl.topo.VTEP || packet.Ethernet(frame).EtherType() == packet.EtherTypeVLAN {
			return false
		}
		l3 = frame[d.InnerOff:d.End]
		if r := p.Decode(l3); r != packet.OK {
			return r == packet.NotIP && w.fast6(c, true) // inner IPv6
		}
		c.pre = preParsed
		if p.Tagged {
			return false
		}
		innerOff = d.InnerOff
		vni, innerDst = d.VNI, packet.Ethernet(l3).Dst()
		tunnelled = true
	case flow.External:
		l3 = frame
		if r := p.Decode(l3); r != packet.OK {
			return r == packet.NotIP && w.fast6(c, false)
		}
		c.pre = preParsed
		if p.Tagged {
			return false
		}
	default:
		return false
	}
	if p.Frag {
		return false // fragments take the pipeline (frag.go)
	}
	switch p.Proto {
	case packet.ProtoTCP:
		if p.TCPFlags&(packet.TCPFlagSYN|packet.TCPFlagFIN|packet.TCPFlagRST) != 0 {
			return false
		}
	case packet.ProtoUDP:
	case packet.ProtoICMP:
		if !packet.IsEcho(p.ICMPType) {
			return false
		}
	default:
		return false
	}
	k := flow.KeyOf(pkt.InPort, vni, innerDst, p)
	i := -1
	if h, way, ok := w.peekedHash(&k); ok {
		if i = w.cache.at(&k, h, way); i < 0 {
			i = w.cache.find(&k, h)
		}
	} else {
		i = w.cache.find(&k, k.Hash())
	}
	w.cache.account(i >= 0)
	if i < 0 {
		return false
	}
	e := &w.cache.slots[i]
	a := &e.act
	// The input checks the pipeline makes, on hits only: a miss gets them
	// from the pipeline, once.
	if !a.Applicable(p.TTL, pkt.Off+innerOff) || !p.IP(l3).ChecksumValid() || w.tooBig(p, a.OutPort) ||
		tunnelled && (!pl.chassis.has(c.dec.OuterSrc) || !geneve.VerifyUDPChecksum(frame, &c.dec) ||
			pl.topo.CheckOutport && (!c.dec.HasOVN || c.dec.OutPort != e.outport)) {
		return false // the pipeline answers or drops it
	}
	m := c.fillMeta(l3)
	cs := &a.Conns
	r, ok := w.p.ct.UpdatePair(cs[0].Handle, cs[0].Dir, cs[1].Handle, cs[1].Dir, m, c.now)
	if !ok {
		w.cache.drop(i)
		return false
	}
	if (r.Mark[0]&r.Mark[1])&flow.MarkOffloadSeen == 0 && w.p.sink != nil && len(w.cands) < cap(w.cands) {
		w.cands = append(w.cands, flow.Candidate{Key: k, Conns: a.Conns})
	}
	pkt.Off, pkt.Len = flow.Apply(a, pkt.Buf, pkt.Off+innerOff, p.End, p) // padding trimmed
	switch {
	case a.Decap && a.Encap: // in and out over Geneve (hairpin)
		w.c.forward(FamilyIPv4, DirHairpin, pkt.Len)
	case a.Encap:
		w.c.forward(FamilyIPv4, DirIngress, pkt.Len)
	default:
		w.c.forward(FamilyIPv4, DirEgress, pkt.Len)
	}
	w.c.cacheHits++
	tx(pkt, a.OutPort)
	return true
}

// learn remembers what the full pipeline just did to the packet, when it
// was an ordinary one of a flow that already existed in both zones.
func (w *Worker) learn(c *pktCtx) {
	if c.zones != bothZones || c.hits != 2 || c.related || c.stateChange {
		return
	}
	k := c.cand.Key
	h := k.Hash()
	i, ok := w.cache.place(&k, h)
	if !ok {
		return
	}
	w.cache.drop(i) // until it is complete
	e := &w.cache.slots[i]
	o := c.output()
	if flow.Derive(&o, &e.act) != nil {
		return
	}
	e.epoch, e.outport = w.cache.epoch, c.joinKey
	w.cache.tags[i/flowCacheWays][i%flowCacheWays] = uint32(h>>32) | 1
}
