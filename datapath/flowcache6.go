package datapath

import (
	"unsafe"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// The flow cache's IPv6 half: the same exact-match cache for IPv6 (inner)
// flows, over either underlay family, keyed by flow.Key6 and replaying a
// flow.Action6 (Derive6/Apply6). It is a table of its own so that the
// IPv4 entries keep their 128 bytes and the IPv4 hit path does not change:
// an IPv6 packet reaches it only where the IPv4 probe gave up (fast), and
// it is allocated at the first IPv6 flow learnt, so that an IPv4-only
// worker pays nothing for it (flowCache6Sets).
//
// It shares the IPv4 table's epoch (plan generation and neighbour
// version: sync), its bypass decision (consult) and its exactness rules:
// the connections are checked alive and advanced by handle in Table6
// (UpdatePair, as IPv4 does in Table), TCP SYN/FIN/RST, ICMPv6 other than
// echo, fragments and extension headers take the full pipeline, which
// learns the flow again.

// flowCache6Sets gives the IPv6 table the IPv4 table's capacity (32k
// entries: both directions of 10k connections). Its entries are twice as
// large (256 bytes), so it costs 8 MB per worker, made only when the
// worker learns an IPv6 flow. (With half the sets, 10k NAT66 flows hit
// 77% in BenchmarkPipelineEstablished6, against 95% for IPv4.)
const flowCache6Sets = flowCacheSets

type flowCache6 struct {
	slots  [flowCache6Sets * flowCacheWays]cacheEntry6
	tags   [flowCache6Sets][flowCacheWays]uint32
	misses uint32 // conflict misses, for replaceEvery
	victim uint32
}

// cacheEntry6 is one learned IPv6 flow direction: the action
// flow.Derive6 read off the pipeline (Outport included), and its epoch.
// 256 bytes, line aligned; key and connections are in the first line.
type cacheEntry6 struct {
	epoch uint32
	act   flow.Action6
	_     [256 - 4 - unsafe.Sizeof(flow.Action6{})]byte
}

// sets6 is sets for the IPv6 table's size.
func sets6(h uint64) (a, b, tag uint32) {
	return uint32(h) & (flowCache6Sets - 1), uint32(h>>16) & (flowCache6Sets - 1), uint32(h>>32) | 1
}

// find returns the entry index of k (hash h) learnt in epoch, or -1.
func (c *flowCache6) find(k *flow.Key6, h uint64, epoch uint32) int {
	a, b, tag := sets6(h)
	for _, set := range [2]uint32{a, b} {
		for way, t := range &c.tags[set] {
			if t != tag {
				continue
			}
			i := int(set)*flowCacheWays + way
			if e := &c.slots[i]; e.epoch == epoch && e.act.Key == *k {
				return i
			}
		}
	}
	return -1
}

// drop forgets entry i.
func (c *flowCache6) drop(i int) {
	c.tags[i/flowCacheWays][i%flowCacheWays] = 0
}

// place is flowCache.place for the IPv6 table: k's own way, a free one
// (empty or of another epoch) in the emptier set, or a victim on one
// conflict miss in replaceEvery.
func (c *flowCache6) place(k *flow.Key6, h uint64, epoch uint32) (i int, ok bool) {
	a, b, tag := sets6(h)
	free, freeN := -1, 0
	for _, set := range [2]uint32{a, b} {
		base := int(set) * flowCacheWays
		first, n := -1, 0
		for way, t := range &c.tags[set] {
			e := &c.slots[base+way]
			if t == tag && e.act.Key == *k {
				return base + way, true
			}
			if t == 0 || e.epoch != epoch {
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

// fast6 is fast for an IPv6 (inner) packet: fast calls it where its IPv4
// probe stops, outer4 saying whether c.dec already holds an IPv4-underlay
// decap of the frame. It returns false, with the frame untouched, when the
// packet must take the full pipeline. It decodes into c.parsed and c.dec
// but leaves c.pre alone, so the pipeline decodes again on a miss.
func (w *Worker) fast6(c *pktCtx, outer4 bool) bool {
	c6 := w.cache.v6
	if c6 == nil {
		return false
	}
	pkt, pl := c.pkt, c.pl
	frame := pkt.Frame()
	p, d := &c.parsed, &c.dec
	var vni uint32
	var innerDst packet.MAC
	var l3 []byte
	innerOff := 0
	switch pkt.InPort {
	case flow.Underlay:
		if !outer4 {
			if pl.topo.VTEP6.IsUnspecified() || len(frame) < packet.EthernetLen ||
				packet.Ethernet(frame).EtherType() != packet.EtherTypeIPv6 {
				return false
			}
			if geneve.DecapDual(frame, d) != geneve.OK || !d.IPv6 || d.OuterDst6 != pl.topo.VTEP6 {
				return false
			}
		}
		l3 = frame[d.InnerOff:d.End]
		if len(l3) < packet.EthernetLen || packet.Ethernet(l3).EtherType() != packet.EtherTypeIPv6 {
			return false
		}
		innerOff = d.InnerOff
		vni, innerDst = d.VNI, packet.Ethernet(l3).Dst()
	case flow.External:
		if len(frame) < packet.EthernetLen || packet.Ethernet(frame).EtherType() != packet.EtherTypeIPv6 {
			return false
		}
		l3 = frame
	default:
		return false
	}
	// No extension headers (fragments included): those take the pipeline.
	if p.DecodeDual(l3) != packet.OK || p.Family != 6 || p.Tagged || p.Frag || p.L4Off != p.L3Off+packet.IPv6Len {
		return false
	}
	switch p.Proto {
	case packet.ProtoTCP:
		if p.TCPFlags&(packet.TCPFlagSYN|packet.TCPFlagFIN|packet.TCPFlagRST) != 0 {
			return false
		}
	case packet.ProtoUDP:
	case packet.ProtoICMPv6:
		if !packet.IsEcho6(p.ICMPType) {
			return false
		}
	default:
		return false
	}
	k := flow.KeyOf6(pkt.InPort, vni, innerDst, p)
	i := c6.find(&k, k.Hash(), w.cache.epoch)
	if i < 0 {
		return false
	}
	a := &c6.slots[i].act
	// The input checks the pipeline makes (martians and the router are
	// the key's, under the plan's epoch): hop limit, packet too big,
	// headroom; over the underlay the chassis, the outer checksum and
	// the outport.
	if !a.Applicable(p.TTL, p.End-p.L3Off, pkt.Off+innerOff) || w.tooBig(p, a.OutPort) {
		return false
	}
	if pkt.InPort == flow.Underlay {
		if packet.Ethernet(frame).EtherType() == packet.EtherTypeVLAN {
			return false
		}
		if d.IPv6 {
			if !pl.chassis6[d.OuterSrc6] {
				return false
			}
		} else if !pl.chassis.has(d.OuterSrc) {
			return false
		}
		if !geneve.VerifyUDPChecksum(frame, d) || pl.topo.CheckOutport && (!d.HasOVN || d.OutPort != a.Outport) {
			return false
		}
	}
	m := c.fillMeta(l3)
	cs := &a.Conns
	r, ok := w.p.ct6.UpdatePair(cs[0].Handle, cs[0].Dir, cs[1].Handle, cs[1].Dir, m, c.now)
	if !ok {
		c6.drop(i)
		return false
	}
	if (r.Mark[0]&r.Mark[1])&flow.MarkOffloadSeen == 0 && w.p.sink6 != nil && len(w.cands6) < cap(w.cands6) {
		w.cands6 = append(w.cands6, flow.Candidate6{Key: k, Conns: a.Conns})
	}
	pkt.Off, pkt.Len = flow.Apply6(a, pkt.Buf, pkt.Off+innerOff, p.End, p) // padding trimmed
	switch {
	case a.Decap && a.Encap: // in and out over Geneve (hairpin6)
		w.c.forward(FamilyIPv6, DirHairpin, pkt.Len)
	case a.Encap:
		w.c.forward(FamilyIPv6, DirIngress, pkt.Len)
	default:
		w.c.forward(FamilyIPv6, DirEgress, pkt.Len)
	}
	w.c.cacheHits++
	tx(pkt, a.OutPort)
	return true
}

// learn6 is learn for an IPv6 packet the full pipeline just forwarded: it
// reads the action off the output with flow.Derive6, as PlanFlow6 does
// for the offload manager (planOne6), over either underlay family.
func (w *Worker) learn6(c *pktCtx) {
	if c.zones != bothZones || c.hits != 2 || c.related || c.stateChange {
		return
	}
	if w.cache.v6 == nil {
		w.cache.v6 = new(flowCache6)
	}
	c6, epoch := w.cache.v6, w.cache.epoch
	k := c.key6
	h := k.Hash()
	i, ok := c6.place(&k, h, epoch)
	if !ok {
		return
	}
	c6.drop(i) // until it is complete
	e := &c6.slots[i]
	pkt := c.pkt
	o := flow.Output6{Key: k, OutPort: pkt.OutPort, Frame: pkt.Frame(), ArrivalHop: c.ttl, Conns: c.cand.Conns}
	var outer6 geneve.EncapParams6
	if pkt.OutPort == flow.Underlay {
		if packet.Ethernet(o.Frame).EtherType() == packet.EtherTypeIPv6 {
			if outerOf6(o.Frame, &outer6) != nil {
				return
			}
			o.Outer6 = &outer6
		} else {
			o.Outer = &c.outer
		}
	}
	if flow.Derive6(&o, &e.act) != nil {
		return
	}
	if k.InPort == flow.Underlay && c.pl.topo.CheckOutport {
		rp, ok := c.pl.topo.JoinPort(k.VNI, k.InnerDst)
		if !ok {
			return
		}
		e.act.Outport = rp.Key // what fromUnderlay6 checks
	}
	e.act.MaxLen = uint16(min(w.p.maxOut[e.act.OutPort], 0xffff)) // tooBig's limit
	e.epoch = epoch
	c6.tags[i/flowCacheWays][i%flowCacheWays] = uint32(h>>32) | 1
}
