package flow

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// Applicable reports whether Apply6 can run a on an IPv6 packet whose
// hop limit is hop, whose (inner) IPv6 datagram is ipLen bytes (fixed
// header included) and whose inner frame starts innerStart bytes into
// its buffer. A fast path punts the rest to software: a hop limit that
// would run out (time exceeded), a datagram longer than MaxLen (packet
// too big: IPv6 is never fragmented on the way), and an encap without
// headroom for the outer headers.
func (a *Action6) Applicable(hop uint8, ipLen, innerStart int) bool {
	return hop > a.HopDec && (a.MaxLen == 0 || ipLen <= int(a.MaxLen)) && innerStart >= a.EncapLen()
}

// Apply6 is Apply for IPv6: it does a to the packet whose (inner,
// decapsulated) frame is buf[off:off+n], decoded by DecodeDual into p
// (Family 6): NAT66 with the L4 checksum updated incrementally (the
// pseudo-header's 128-bit addresses and the ports or echo id), the hop
// limit decrement (no IP checksum in IPv6), the routed L2 header, and the
// outer headers over the IPv4 or the IPv6 underlay. It returns where the
// frame to transmit starts and its length. The caller checked
// Applicable. The XDP program's IPv6 forward is the same function in C.
func Apply6(a *Action6, buf []byte, off, n int, p *packet.Parsed) (int, int) {
	f := buf[off : off+n]
	if a.Translates() {
		rewrite6(f, p, a)
	}
	ip := p.IP6(f)
	ip.SetHopLimit(ip.HopLimit() - a.HopDec)
	eth := packet.Ethernet(f)
	eth.SetSrc(a.EthSrc)
	eth.SetDst(a.EthDst)
	if a.Encap {
		if a.Underlay6 {
			off = geneve.Encap6(buf, off, n, &a.Outer6)
			n += geneve.EncapLen6
		} else {
			off = geneve.Encap(buf, off, n, &a.Outer)
			n += geneve.EncapLen
		}
	}
	return off, n
}

// rewrite6 translates the IPv6 packet in frame f to a's NAT addresses and
// ports. Old values are read from the frame, so the checksum stays right
// even if p went stale. Only a first (or no) fragment carries the L4
// header; a UDP checksum, which IPv6 requires, is never left zero.
func rewrite6(f []byte, p *packet.Parsed, a *Action6) {
	if p.L3Off+packet.IPv6Len > p.L4Off || p.L4Off > p.End || p.End > len(f) {
		return
	}
	ip := packet.IPv6(f[p.L3Off:])
	var d packet.Delta
	if old := ip.Src(); old != a.NATSrc {
		d = d.AddUpdate128(old, a.NATSrc)
		ip.SetSrc(a.NATSrc)
	}
	if old := ip.Dst(); old != a.NATDst {
		d = d.AddUpdate128(old, a.NATDst)
		ip.SetDst(a.NATDst)
	}
	p.Src6, p.Dst6 = a.NATSrc, a.NATDst
	if p.FragHdrOff != 0 && packet.IPv6Fragment(f[p.FragHdrOff:]).FragOffset() != 0 {
		return
	}
	l4 := f[p.L4Off:p.End]
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		if len(l4) < packet.UDPLen || (p.Proto == packet.ProtoTCP && len(l4) < packet.TCPMinLen) {
			return
		}
		if old := binary.BigEndian.Uint16(l4[0:]); old != a.NATSrcPort {
			d = d.AddUpdate16(old, a.NATSrcPort)
			binary.BigEndian.PutUint16(l4[0:], a.NATSrcPort)
		}
		if old := binary.BigEndian.Uint16(l4[2:]); old != a.NATDstPort {
			d = d.AddUpdate16(old, a.NATDstPort)
			binary.BigEndian.PutUint16(l4[2:], a.NATDstPort)
		}
		p.SrcPort, p.DstPort = a.NATSrcPort, a.NATDstPort
		if d == 0 {
			return
		}
		if p.Proto == packet.ProtoTCP {
			t := packet.TCP(l4)
			t.SetChecksum(d.Apply(t.Checksum()))
		} else {
			u := packet.UDP(l4)
			u.SetChecksum(d.ApplyUDP(u.Checksum()))
		}
	case packet.ProtoICMPv6:
		// The ICMPv6 checksum covers the pseudo-header: the addresses'
		// change applies to every message, the id's to echo only.
		if len(l4) < packet.ICMPv6Len {
			return
		}
		c := packet.ICMPv6(l4)
		if packet.IsEcho6(c.Type()) {
			if old := c.ID(); old != a.NATSrcPort {
				d = d.AddUpdate16(old, a.NATSrcPort)
				c.SetID(a.NATSrcPort)
			}
			p.SrcPort, p.DstPort = a.NATSrcPort, a.NATSrcPort
		}
		if d != 0 {
			c.SetChecksum(d.Apply(c.Checksum()))
		}
	}
}
