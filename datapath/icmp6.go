package datapath

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/packet"
)

// ICMPv6 the gateway router itself sends (RFC 4443), the IPv6 half of
// icmp.go: echo replies to its own addresses, and errors for what it
// cannot forward: time exceeded when the hop limit runs out, packet too
// big (IPv6 routers never fragment, RFC 8200 §5, so every packet larger
// than the next link gets one, whatever its flags), and destination
// unreachable. Each is built in the packet's own buffer, in place of the
// frame that caused it, with hop limit 255 before the router's hop, and
// c.parsed describes the result; the caller then routes it from the
// router like any packet it sends (as icmpOut does for IPv4). Nothing is
// tracked or NATed.
//
// Generation shares the IPv4 messages' per-source token buckets
// (icmpAllowed's limiter, the plan's ICMPRate and ICMPBurst); what the
// limit refuses is dropped as icmp-rate-limited.

// icmp6MaxLen is the largest ICMPv6 error: the IPv6 minimum MTU (RFC 4443
// §2.4 (c): quote as much as fits without exceeding it), and icmp6Quote
// how much of the invoking packet that leaves room for. icmp6Head is the
// message before its quote, from the Ethernet header on.
const (
	icmp6MaxLen = 1280
	icmp6Quote  = icmp6MaxLen - packet.IPv6Len - packet.ICMPv6Len
	icmp6Head   = packet.EthernetLen + packet.IPv6Len + packet.ICMPv6Len
	// icmp6MinMTU is the IPv6 minimum link MTU (RFC 8200 §5).
	icmp6MinMTU = 1280
)

// ICMPv6 error codes the router uses (RFC 4443 §3.1, §3.3, §3.4).
const (
	icmp6CodeNoRoute       = 0 // destination unreachable: no route to destination
	icmp6CodeBeyondScope   = 2 // destination unreachable: beyond scope of source address
	icmp6CodeAddrUnreach   = 3 // destination unreachable: address unreachable
	icmp6CodePortUnreach   = 4 // destination unreachable: port unreachable
	icmp6CodeHopLimit      = 0 // time exceeded: hop limit exceeded in transit
	icmp6CodeUnknownOption = 2 // parameter problem: unrecognized IPv6 option
)

// echoReply6 turns an echo request to one of the router's own IPv6
// addresses (frame = pkt.Frame(), decoded by DecodeDual in c.parsed) into
// the reply, in place: addresses swapped, hop limit 255, type 129 with
// the checksum updated (the pseudo-header sum does not change when the
// addresses swap), link padding trimmed. Extension headers of the request
// are not echoed: the message moves up behind the fixed header. A
// fragment of a request is not answered (the router does not reassemble),
// nor is a request with a wrong checksum (DropMalformed), nor one from an
// address no reply can go to (DropMartianSource6).
func (w *Worker) echoReply6(c *pktCtx, frame []byte) Drop {
	p := &c.parsed
	if p.Family != 6 || p.Proto != packet.ProtoICMPv6 || p.ICMPType != packet.ICMPv6EchoRequest || p.End-p.L4Off < packet.ICMPv6Len {
		return DropToRouter // only echo is served
	}
	if p.Frag {
		return DropFragment
	}
	if !unicastSource6(p.Src6) {
		return DropMartianSource6
	}
	if !packet.L4ChecksumValid6(frame[p.L4Off:p.End], p.Src6, p.Dst6, packet.ProtoICMPv6) {
		return DropMalformed // RFC 4443 §2.4 (b): not answered
	}
	if !w.icmpAllowed6(c, p.Src6) {
		return DropICMPRateLimited
	}
	src, dst := p.Src6, p.Dst6
	l3 := p.L3Off
	l4 := l3 + packet.IPv6Len
	n := l4 + copy(frame[l4:], frame[p.L4Off:p.End])
	ip := p.IP6(frame)
	ip.SetSrc(dst)
	ip.SetDst(src)
	ip.SetHopLimit(255)
	ip.SetNextHeader(packet.ProtoICMPv6)
	ip.SetPayloadLength(uint16(n - l4))
	icmp := packet.ICMPv6(frame[l4:n])
	icmp.SetType(packet.ICMPv6EchoReply)
	icmp.SetChecksum(packet.Update16(icmp.Checksum(), uint16(packet.ICMPv6EchoRequest)<<8, uint16(packet.ICMPv6EchoReply)<<8))
	c.pkt.Len = n
	if p.DecodeDual(frame[:n]) != packet.OK {
		return DropMalformed
	}
	return DropNone
}

// timeExceeded6 replaces the packet in frame (= pkt.Frame(), decoded in
// c.parsed), whose hop limit runs out at the router, arriving through a
// port whose address is src, by time exceeded, hop limit exceeded in
// transit (RFC 4443 §3.3).
func (w *Worker) timeExceeded6(c *pktCtx, frame []byte, src packet.IP6) Drop {
	return w.icmp6Error(c, frame, src, packet.ICMPv6TimeExceeded, icmp6CodeHopLimit, 0, DropTTL)
}

// packetTooBig6 replaces a packet larger than the next link's mtu by
// packet too big with that MTU (RFC 4443 §3.2, RFC 8201), from src, the
// address of the port it arrived through. An MTU below the IPv6 minimum
// is reported as 1280, as Linux does: no IPv6 link is smaller.
func (w *Worker) packetTooBig6(c *pktCtx, frame []byte, src packet.IP6, mtu int) Drop {
	return w.icmp6Error(c, frame, src, packet.ICMPv6PacketTooBig, 0, uint32(max(mtu, icmp6MinMTU)), DropTooBig)
}

// destUnreachable6 replaces a packet the router cannot deliver by
// destination unreachable with code (icmp6CodeNoRoute,
// icmp6CodeBeyondScope, icmp6CodeAddrUnreach, icmp6CodePortUnreach), from
// src; silent is the drop reason when no message may be sent
// (DropNoRoute, DropToRouter...).
func (w *Worker) destUnreachable6(c *pktCtx, frame []byte, src packet.IP6, code uint8, silent Drop) Drop {
	return w.icmp6Error(c, frame, src, packet.ICMPv6DestUnreachable, code, 0, silent)
}

// icmp6Error replaces the packet in frame (= pkt.Frame(), decoded by
// DecodeDual in c.parsed) by an ICMPv6 error of typ and code from src to
// its source, param in the word after the checksum (the MTU of packet too
// big, the pointer of parameter problem), quoting as much of the packet
// as fits in 1280 bytes and in the buffer. When RFC 4443 §2.4 (e) forbids
// a message (icmp6ErrorAllowed), or src is unspecified (the port has no
// IPv6 address to send from), the packet is dropped as silent; over the
// rate limit, as icmp-rate-limited. c.parsed then describes the message.
func (w *Worker) icmp6Error(c *pktCtx, frame []byte, src packet.IP6, typ, code uint8, param uint32, silent Drop) Drop {
	p := &c.parsed
	if src.IsUnspecified() || !icmp6ErrorAllowed(frame, p, typ, code) {
		return silent
	}
	if !w.icmpAllowed6(c, p.Src6) {
		return DropICMPRateLimited
	}
	pkt := c.pkt // frame is pkt.Frame()
	n := putICMP6Error(pkt.Buf[pkt.Off:], p, src, typ, code, param)
	if n == 0 {
		return silent
	}
	pkt.Len = n
	out := pkt.Frame()
	if p.DecodeDual(out) != packet.OK {
		return DropMalformed
	}
	return DropNone
}

// icmp6ErrorAllowed reports whether an ICMPv6 error of typ and code may be
// sent about the packet in frame (decoded in p), per RFC 4443 §2.4 (e):
// not about an ICMPv6 error or a redirect; not about a packet to a
// multicast address, or sent to a link-layer multicast or broadcast
// address, except packet too big and parameter problem for an
// unrecognized option; not to a source that does not identify one node
// (unspecified, multicast; also loopback and v4-mapped, which no node on
// the wire has). A non-first fragment carries no ICMPv6 header to look
// at and is eligible, as in Linux (icmpv6's is_ineligible): its sender
// needs packet too big most of all.
func icmp6ErrorAllowed(frame []byte, p *packet.Parsed, typ, code uint8) bool {
	if p.Family != 6 || !unicastSource6(p.Src6) {
		return false
	}
	later := p.FragHdrOff != 0 && p.Fragment6(frame).FragOffset() != 0
	if !later && p.Proto == packet.ProtoICMPv6 && (packet.IsError6(p.ICMPType) || p.ICMPType == packet.ICMPv6Redirect) {
		return false
	}
	exempt := typ == packet.ICMPv6PacketTooBig || typ == packet.ICMPv6ParamProblem && code == icmp6CodeUnknownOption
	if !exempt && (p.Dst6.IsMulticast() || frame[0]&1 != 0) {
		return false
	}
	return true
}

// unicastSource6 reports whether a is a source a router may answer: not
// unspecified, multicast, loopback or v4-mapped.
func unicastSource6(a packet.IP6) bool {
	return !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() && !a.IsV4Mapped()
}

// putICMP6Error writes, into out (the buffer from the start of the
// invoking frame on; its datagram, decoded in p, at p.L3Off..p.End), an
// untagged Ethernet frame with the ICMPv6 error of typ and code from src
// to the datagram's source, param after the checksum, quoting the
// datagram from its fixed header on, extension headers included (RFC 4443
// §2.4 (c)), without link padding, as far as it fits in icmp6MaxLen and
// in out. The quote moves in place (copy handles the overlap). The
// Ethernet addresses are the invoking frame's, swapped; the router's hop
// sets them. It returns the frame's length, or 0 if out cannot hold the
// message with at least the invoking IPv6 header.
func putICMP6Error(out []byte, p *packet.Parsed, src packet.IP6, typ, code uint8, param uint32) int {
	quote := min(p.End-p.L3Off, icmp6Quote, len(out)-icmp6Head)
	if quote < packet.IPv6Len {
		return 0
	}
	eth := packet.Ethernet(out)
	srcMAC, dstMAC := eth.Src(), eth.Dst()
	dst := p.Src6
	copy(out[icmp6Head:], out[p.L3Off:p.L3Off+quote])
	eth.SetDst(srcMAC)
	eth.SetSrc(dstMAC)
	eth.SetEtherType(packet.EtherTypeIPv6)
	l4 := packet.EthernetLen + packet.IPv6Len
	n := icmp6Head + quote
	packet.IPv6(out[packet.EthernetLen:]).Encode(packet.IPv6Fields{PayloadLength: uint16(n - l4),
		NextHeader: packet.ProtoICMPv6, HopLimit: 255, Src: src, Dst: dst})
	icmp := packet.ICMPv6(out[l4:n])
	icmp.SetType(typ)
	icmp.SetCode(code)
	binary.BigEndian.PutUint32(icmp[4:], param)
	icmp.SetChecksum(icmp.ComputeChecksum(src, dst))
	return n
}

// icmpAllowed6 takes a token from src's bucket in the limiter the IPv4
// messages use, under the same rate. The bucket of an IPv6 source is
// keyed by a 28-bit fold of its address into 240/4, the IPv4 class E
// range that validate refuses as a source, so that it never shares a
// bucket with an IPv4 source (only, like them, a slot).
func (w *Worker) icmpAllowed6(c *pktCtx, src packet.IP6) bool {
	t := c.pl.topo
	return w.icmpLimit.allow(limitKey6(src), c.now, t.ICMPRate, t.ICMPBurst)
}

// limitKey6 is the icmpLimiter key of an IPv6 source (see icmpAllowed6).
func limitKey6(a packet.IP6) packet.IP4 {
	var h uint32
	for i := 0; i < 16; i += 4 {
		h = (h ^ binary.BigEndian.Uint32(a[i:])) * 0x9e3779b1
	}
	h ^= h >> 15
	var k packet.IP4
	binary.BigEndian.PutUint32(k[:], 0xf0000000|h&0x0fffffff)
	return k
}
