package packet

// DecodeDual parses an IPv4 or IPv6 frame into p; p.Family says which.
// For IPv4 it is Decode. For IPv6 (EtherType 0x86DD) it walks the
// extension headers (WalkIPv6Ext), so Proto is the upper-layer protocol
// and L4Off the start of its header; TTL is the hop limit; ports, TCP
// flags and ICMPv6 type and code are filled as for IPv4, the ICMPv6 echo
// ID in both ports. A non-first fragment returns Fragment. It allocates
// nothing and never reads past len(frame).
//
// Decode stays IPv4-only (NotIP for IPv6) so that callers written for
// IPv4, in this tree and on branches in flight, keep their behaviour
// until they move to DecodeDual and learn to look at Family.
func (p *Parsed) DecodeDual(frame []byte) Result {
	l2, ok := ParseL2(frame)
	if !ok {
		return ErrShortL2
	}
	if l2.EtherType != EtherTypeIPv6 {
		// No IPv6 addresses left over from an earlier frame in the slot.
		p.Src6, p.Dst6 = IP6{}, IP6{}
		return p.Decode(frame)
	}
	p.L2 = l2
	return p.decode6(frame)
}

// decode6 is DecodeDual's IPv6 half; p.L2 is set.
func (p *Parsed) decode6(frame []byte) Result {
	l3 := p.L3Off
	if len(frame)-l3 < IPv6Len {
		return ErrShortIP
	}
	ip := IPv6(frame[l3:])
	if ip.Version() != 6 {
		return ErrIPVersion
	}
	end := l3 + IPv6Len + int(ip.PayloadLength())
	if end > len(frame) {
		return ErrIPTotalLen
	}
	p.End = end
	p.Family = 6
	p.TTL = ip.HopLimit()
	p.Src6, p.Dst6 = ip.Src(), ip.Dst()
	p.Src, p.Dst = IP4{}, IP4{}
	p.SrcPort, p.DstPort, p.TCPFlags, p.ICMPType, p.ICMPCode = 0, 0, 0, 0, 0
	p.Frag, p.FragHdrOff = false, 0
	e, r := WalkIPv6Ext(frame[l3:end])
	if r != OK {
		return r
	}
	p.Proto = e.Proto
	p.L4Off = l3 + e.Off
	if e.FragOff != 0 {
		p.FragHdrOff = l3 + e.FragOff
		fh := IPv6Fragment(frame[p.FragHdrOff:])
		p.Frag = fh.IsFragment()
		// Every fragment but the last carries a multiple of 8 bytes of
		// the fragmentable part, which starts after the fragment header.
		if fh.MoreFragments() && (end-p.FragHdrOff-IPv6FragmentLen)%8 != 0 {
			return ErrIP6FragLen
		}
		if fh.FragOffset() != 0 {
			return Fragment
		}
	}
	l4 := frame[p.L4Off:end]
	switch p.Proto {
	case ProtoUDP:
		if len(l4) < UDPLen {
			return ErrShortL4
		}
		u := UDP(l4)
		p.SrcPort, p.DstPort = u.SrcPort(), u.DstPort()
		if ul := int(u.Length()); !p.Frag && (ul < UDPLen || ul > len(l4)) {
			return ErrUDPLength
		}
		if u.Checksum() == 0 {
			return ErrUDP6ZeroChecksum
		}
	case ProtoTCP:
		if len(l4) < TCPMinLen {
			return ErrShortL4
		}
		t := TCP(l4)
		if off := t.DataOffset(); off < TCPMinLen || off > len(l4) {
			return ErrTCPOffset
		}
		p.SrcPort, p.DstPort = t.SrcPort(), t.DstPort()
		p.TCPFlags = t.Flags()
	case ProtoICMPv6:
		if len(l4) < ICMPv6Len {
			return ErrShortL4
		}
		c := ICMPv6(l4)
		p.ICMPType, p.ICMPCode = c.Type(), c.Code()
		if IsEcho6(c.Type()) {
			p.SrcPort, p.DstPort = c.ID(), c.ID()
		}
	}
	return OK
}

// IP6 returns the fixed IPv6 header view of frame (Family 6).
func (p *Parsed) IP6(frame []byte) IPv6 { return IPv6(frame[p.L3Off : p.L3Off+IPv6Len]) }

// Fragment6 returns the IPv6 fragment header view of frame; the caller
// checks FragHdrOff != 0.
func (p *Parsed) Fragment6(frame []byte) IPv6Fragment {
	return IPv6Fragment(frame[p.FragHdrOff : p.FragHdrOff+IPv6FragmentLen])
}
