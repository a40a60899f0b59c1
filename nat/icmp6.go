package nat

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// quote6 locates the datagram an ICMPv6 error embeds (RFC 4443 §2.4: as
// much of the invoking packet as fits in the minimum MTU, so the quote is
// often truncated). It returns the quoted IPv6 header, its upper-layer
// protocol and header (after any extension headers, walked as
// packet.WalkIPv6Ext walks them), or ok=false when p is not an ICMPv6
// error or the quote cannot be keyed: shorter than its headers plus 8
// bytes of L4, not IPv6, an extension-header chain that is malformed or
// cut by the truncation, a non-first fragment (no L4 header), a routing
// header with segments left (its L4 checksum covers the final
// destination, not the quoted one, so the incremental update would be
// wrong), or itself an ICMPv6 error (never sent about one, RFC 4443
// §2.4). The caller drops what it cannot relate, counted.
func quote6(frame []byte, p *packet.Parsed) (ip packet.IPv6, proto uint8, l4 []byte, ok bool) {
	if p.Family != 6 || p.Proto != packet.ProtoICMPv6 || !packet.IsError6(p.ICMPType) {
		return nil, 0, nil, false
	}
	if p.L3Off < 0 || p.L3Off+packet.IPv6Len > p.L4Off || p.L4Off+packet.ICMPv6Len > p.End || p.End > len(frame) {
		return nil, 0, nil, false
	}
	if p.FragHdrOff != 0 && (p.FragHdrOff+packet.IPv6FragmentLen > len(frame) ||
		packet.IPv6Fragment(frame[p.FragHdrOff:]).FragOffset() != 0) {
		return nil, 0, nil, false
	}
	q := frame[p.L4Off+packet.ICMPv6Len : p.End]
	if len(q) < packet.IPv6Len+quoteMinL4 {
		return nil, 0, nil, false
	}
	ip = packet.IPv6(q[:packet.IPv6Len])
	if ip.Version() != 6 {
		return nil, 0, nil, false
	}
	proto, off := ip.NextHeader(), packet.IPv6Len
	if packet.IsExtHeader(proto) {
		e, r := packet.WalkIPv6Ext(q)
		if r != packet.OK || e.FragOff != 0 && packet.IPv6Fragment(q[e.FragOff:]).FragOffset() != 0 ||
			routingLeft(q, e.Off) {
			return nil, 0, nil, false
		}
		proto, off = e.Proto, e.Off
	}
	if len(q)-off < quoteMinL4 {
		return nil, 0, nil, false
	}
	l4 = q[off:]
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP:
	case packet.ProtoICMPv6:
		if !isEcho6(l4[0]) {
			return nil, 0, nil, false
		}
	default:
		return nil, 0, nil, false
	}
	return ip, proto, l4, true
}

// routingLeft reports whether the extension headers of datagram d, a chain
// that WalkIPv6Ext accepted up to end, include a routing header with
// segments left.
func routingLeft(d []byte, end int) bool {
	next, off := d[6], packet.IPv6Len
	for off < end {
		if next == packet.ProtoRouting && d[off+3] != 0 {
			return true
		}
		l := (int(d[off+1]) + 1) * 8
		switch next {
		case packet.ProtoFragment:
			l = packet.IPv6FragmentLen
		case packet.ProtoAH:
			l = (int(d[off+1]) + 2) * 4
		}
		next, off = d[off], off+l
	}
	return false
}

// quotedTuple6 keys the quoted datagram (its upper layer proto at l4) as
// conntrack keys packets.
func quotedTuple6(ip packet.IPv6, proto uint8, l4 []byte, zone uint16) conntrack.Tuple6 {
	t := conntrack.Tuple6{Src: ip.Src(), Dst: ip.Dst(), Proto: proto, Zone: zone}
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		t.SrcPort = binary.BigEndian.Uint16(l4[0:])
		t.DstPort = binary.BigEndian.Uint16(l4[2:])
	case packet.ProtoICMPv6:
		id := packet.ICMPv6(l4).ID()
		t.SrcPort, t.DstPort = id, id
	}
	return t
}

// InnerTuple6 is InnerTuple for an ICMPv6 error (p from DecodeDual): the
// tuple, in zone, of the quoted datagram, which conntrack's
// Table6.LookupRelated matches.
func InnerTuple6(frame []byte, p *packet.Parsed, zone uint16) (conntrack.Tuple6, bool) {
	ip, proto, l4, ok := quote6(frame, p)
	if !ok {
		return conntrack.Tuple6{}, false
	}
	return quotedTuple6(ip, proto, l4, zone), true
}

// RewriteICMPError6 is RewriteICMPError for an ICMPv6 error related to
// IPv6 connection m. It rewrites the quoted datagram from the natural
// tuple reversed to the target reversed (addresses; ports or echo id; the
// quoted TCP, UDP or ICMPv6 checksum, which all cover the quoted addresses
// through their pseudo-header, when it was quoted), the outer addresses
// that carry the connection's untranslated address, and the ICMPv6
// checksum, which covers the outer pseudo-header and every quoted byte
// changed. All updates are incremental. It returns false, frame unchanged,
// when p is not a usable ICMPv6 error or the quote is not m's.
func RewriteICMPError6(frame []byte, p *packet.Parsed, m *conntrack.Match6) bool {
	ip, proto, l4, ok := quote6(frame, p)
	if !ok {
		return false
	}
	target, needed := Target6(m)
	natural := m.Orig
	if m.Dir == conntrack.DirReply {
		natural = m.Reply
	}
	q := quotedTuple6(ip, proto, l4, natural.Zone)
	if q != natural.Reverse() {
		other := m.Reply
		if m.Dir == conntrack.DirReply {
			other = m.Orig
		}
		return q == other
	}
	if !needed {
		return true
	}
	want := target.Reverse()

	// The quoted datagram; cs accumulates every change to the ICMPv6 body.
	var addr packet.Delta
	addr = setAddr6(ip[8:24], want.Src, addr)
	addr = setAddr6(ip[24:40], want.Dst, addr)
	cs := addr
	switch q.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		var ports packet.Delta
		ports = put16(l4[0:], want.SrcPort, ports)
		ports = put16(l4[2:], want.DstPort, ports)
		cs = addOnes(cs, ports)
		l4d := addOnes(addr, ports)
		if q.Proto == packet.ProtoUDP {
			if l4d != 0 {
				cs = put16(l4[6:], l4d.ApplyUDP(binary.BigEndian.Uint16(l4[6:])), cs)
			}
		} else if len(l4) >= 18 && l4d != 0 {
			cs = put16(l4[16:], l4d.Apply(binary.BigEndian.Uint16(l4[16:])), cs)
		}
	case packet.ProtoICMPv6:
		id := put16(l4[4:], want.SrcPort, 0)
		cs = addOnes(cs, id)
		if d := addOnes(addr, id); d != 0 {
			cs = put16(l4[2:], d.Apply(binary.BigEndian.Uint16(l4[2:])), cs)
		}
	}

	// The outer header: only the side that carries the NATed address. Its
	// change enters the ICMPv6 checksum through the pseudo-header.
	outer := packet.IPv6(frame[p.L3Off:])
	if p.Src6 == natural.Src && natural.Src != target.Src {
		cs = setAddr6(outer[8:24], target.Src, cs)
		p.Src6 = target.Src
	}
	if p.Dst6 == natural.Dst && natural.Dst != target.Dst {
		cs = setAddr6(outer[24:40], target.Dst, cs)
		p.Dst6 = target.Dst
	}
	if cs != 0 {
		c := packet.ICMPv6(frame[p.L4Off:p.End])
		c.SetChecksum(cs.Apply(c.Checksum()))
	}
	return true
}

// setAddr6 stores a at b (16 bytes) and returns d with the change added.
func setAddr6(b []byte, a packet.IP6, d packet.Delta) packet.Delta {
	old := packet.IP6(b)
	if old == a {
		return d
	}
	copy(b, a[:])
	return addOnes(d, packet.Delta(0).AddUpdate128(old, a))
}
