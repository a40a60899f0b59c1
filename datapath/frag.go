package datapath

import (
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/ipfrag"
	"github.com/xgw-dev/xgw/packet"
)

// Fragments (RFC 4787 REQ-14) are translated one by one by the connection
// of their datagram's first fragment (package ipfrag says why not
// reassembled), IPv4's and IPv6's alike. The stages call fragment (IPv4)
// or fragment6 (IPv6: fragment extension header) once a fragment is
// decoded and validated; it returns with c.parsed's ports filled from the first
// fragment for a later one, or holds the frame (VerdictHeld) until the
// first fragment arrives. processOne tells the table how the first
// fragment ended (fragDone), and Process sends the held fragments it
// released through the pipeline again (releaseFrags), as extra packets
// the engine transmits after the batch (Extra). A batch releases at most
// maxExtra; the engine takes the rest with Drain after the batch, so a
// datagram of more fragments leaves at once, without waiting for other
// traffic (their hold slots are busy until they go).

// What pktState.frag says about the packet.
const (
	fragNone  = iota // not a fragment (or one the table does not track)
	fragFirst        // the first fragment: the table waits for its outcome
	fragLater        // a later fragment, ports borrowed from the first
)

// maxExtra bounds the held fragments one Process or Drain releases (the
// memory they are copied into); the rest wait for the next Drain.
const maxExtra = 32

// fragment runs the fragment table for the decoded fragment c.parsed in
// l3 (the frame the pipeline routes: the inner one for Geneve; vni and
// mac are its VNI and inner destination MAC, zero on the external side).
// It reports held when the frame was taken (its verdict is set), and why
// it must be dropped otherwise.
func (w *Worker) fragment(c *pktCtx, l3 []byte, vni uint32, mac packet.MAC) (held bool, why Drop) {
	p := &c.parsed
	ip := p.IP(l3)
	first := ip.FragOffset() == 0
	switch {
	case p.Proto == packet.ProtoUDP, p.Proto == packet.ProtoICMP:
	case first:
		return false, DropNone // e.g. TCP: the first is tracked as before
	default:
		return false, DropFragment
	}
	if c.planning {
		return false, DropFragment
	}
	k := ipfrag.Key{Src: p.Src, Dst: p.Dst, VNI: vni, MAC: mac, ID: uint32(ip.ID()), Proto: p.Proto, In: uint8(c.pkt.InPort)}
	start := int(ip.FragOffset()) * 8
	f := ipfrag.Frag{Start: start, End: start + p.End - p.L4Off, More: ip.MoreFragments(), IPLen: p.End - p.L3Off}
	return w.admitFrag(c, &k, f)
}

// fragment6 is fragment for an IPv6 fragment (c.parsed decoded by
// DecodeDual with p.Frag set): the datagram is keyed by its 16-byte
// addresses and 32-bit identification (RFC 8200 §4.5), its offsets count
// from after the fragment header. Only a first fragment whose fragment
// header is followed by its UDP or ICMPv6 header is tracked: extension
// headers in the fragmentable part would make the later fragments' Next
// Header differ from the first's upper-layer protocol (their key), and
// real senders put none there, so such a datagram is dropped whole
// (DropFragment), as every IPv6 fragment was before.
func (w *Worker) fragment6(c *pktCtx, l3 []byte, vni uint32, mac packet.MAC) (held bool, why Drop) {
	p := &c.parsed
	fh := p.Fragment6(l3)
	first := fh.FragOffset() == 0
	switch {
	case p.Proto == packet.ProtoUDP, p.Proto == packet.ProtoICMPv6:
		if first && fh.NextHeader() != p.Proto {
			return false, DropFragment
		}
	case first:
		return false, DropNone // e.g. TCP: the first is tracked as a whole packet
	default:
		return false, DropFragment
	}
	if c.planning {
		return false, DropFragment
	}
	k := ipfrag.Key{V6: true, Src6: p.Src6, Dst6: p.Dst6, VNI: vni, MAC: mac, ID: fh.ID(), Proto: p.Proto, In: uint8(c.pkt.InPort)}
	start := int(fh.FragOffset()) * 8
	data := p.FragHdrOff + packet.IPv6FragmentLen
	f := ipfrag.Frag{Start: start, End: start + p.End - data, More: fh.MoreFragments(), IPLen: p.End - p.L3Off}
	return w.admitFrag(c, &k, f)
}

// admitFrag is fragment's and fragment6's common part: it admits f of
// datagram k to the table (or takes a released held fragment's info) and
// fills a later fragment's ports from its first.
func (w *Worker) admitFrag(c *pktCtx, k *ipfrag.Key, f ipfrag.Frag) (held bool, why Drop) {
	p := &c.parsed
	var info ipfrag.Info
	if w.replay {
		// A held fragment released by its first: admitted already.
		info = w.replayInfo
	} else {
		var r ipfrag.Result
		r, info = w.p.frags.Admit(k, f, c.pkt.Frame(), uint8(c.pkt.InPort), c.now)
		switch r {
		case ipfrag.First:
			c.frag, c.fragKey = fragFirst, *k
			return false, DropNone
		case ipfrag.Known:
		case ipfrag.Held:
			c.pkt.Verdict = VerdictHeld
			return true, DropNone
		case ipfrag.Overlap:
			return false, DropFragOverlap
		case ipfrag.TooMany:
			return false, DropFragTooMany
		case ipfrag.TooSmall:
			return false, DropFragTooSmall
		case ipfrag.NoMemory:
			return false, DropFragMemory
		case ipfrag.Malformed:
			return false, DropMalformed
		default: // Failed
			return false, DropFragment
		}
	}
	c.frag = fragLater
	p.SrcPort, p.DstPort, p.ICMPType = info.SrcPort, info.DstPort, info.ICMPType
	if p.Proto == packet.ProtoICMP && !packet.IsEcho(p.ICMPType) ||
		p.Proto == packet.ProtoICMPv6 && !packet.IsEcho6(p.ICMPType) {
		return false, DropFragment // a fragmented ICMP error: not translated
	}
	return false, DropNone
}

// fragDone tells the table how the first fragment in c ended: translated
// by a connection (its later fragments follow it), or not (they are
// dropped).
func (w *Worker) fragDone(c *pktCtx) {
	// A first fragment held for its next hop's MAC (hold.go) goes out
	// later, and its later fragments queue behind it.
	if (c.pkt.Verdict == VerdictTX || c.pkt.Verdict == VerdictHeld) && c.zones != 0 && !c.related {
		// The ports as it arrived.
		sp, dp := c.cand.Key.SrcPort, c.cand.Key.DstPort
		if c.v6 {
			sp, dp = c.key6.SrcPort, c.key6.DstPort
		}
		w.p.frags.SetFirst(&c.fragKey, ipfrag.Info{SrcPort: sp, DstPort: dp, ICMPType: c.parsed.ICMPType}, c.now)
		return
	}
	w.p.frags.Fail(&c.fragKey, c.now)
}

// releaseFrags runs the fragments whose first fragment was just
// translated through the pipeline, into w.extra, and expires datagrams
// that waited too long.
func (w *Worker) releaseFrags(pl *plan, now int64) {
	w.extra = w.extra[:0]
	w.p.frags.Expire(now)
	if !w.p.frags.Ready() {
		return
	}
	if w.extraBuf == nil {
		sz := w.p.frags.Config().SlotSize
		w.extraBuf = make([]byte, maxExtra*sz)
		w.extraPkts = make([]Packet, 0, maxExtra)
	}
	sz := w.p.frags.Config().SlotSize
	head := w.p.frags.Config().Headroom
	w.extra = w.extraPkts[:0]
	for len(w.extra) < maxExtra {
		buf := w.extraBuf[len(w.extra)*sz : (len(w.extra)+1)*sz]
		n, in, info, ok := w.p.frags.TakeReady(buf)
		if !ok {
			break
		}
		w.extra = append(w.extra, Packet{Buf: buf, Off: head, Len: n, InPort: flow.Port(in)})
		pkt := &w.extra[len(w.extra)-1]
		w.replay, w.replayInfo = true, info
		w.processOne(pl, pkt, now, false)
		w.replay = false
		w.count(pkt)
	}
}

// Extra returns the fragments the last Process (or Drain) released and
// ran: each has its verdict; the engine transmits those with VerdictTX by
// copy. They are valid until the next Process or Drain.
func (w *Worker) Extra() []Packet { return w.extra }

// Drain releases and runs up to maxExtra more of the fragments ready to
// leave (those Process left for lack of room, or released by another
// worker's first fragment), like Process does after its batch, and
// expires datagrams that waited too long. It returns them, as Extra
// would, and whether more are ready: the engine calls it after each
// round until it returns none, so that ready fragments neither wait for
// the next batch nor hold their slots while the worker sleeps. It runs
// on the worker's goroutine, like Process.
func (w *Worker) Drain() (extra []Packet, more bool) {
	w.releaseFrags(w.p.plan.Load(), w.p.clock())
	if len(w.extra) == 0 {
		return nil, w.p.frags.Ready()
	}
	if len(w.cands) > 0 {
		w.p.sink.Candidates(w.cands)
		w.cands = w.cands[:0]
	}
	w.pub.store(&w.c)
	return w.extra, w.p.frags.Ready()
}
