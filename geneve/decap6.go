package geneve

import "github.com/xgw-dev/xgw/packet"

// DecapDual is Decap for an IPv4 or an IPv6 underlay.
// Over IPv6 the outer extension headers are walked (packet.WalkIPv6Ext):
// a malformed or too long chain is ErrOuterIP, any outer fragment (first
// included) ErrFragment, anything but UDP to Port NotGeneve. The rest is
// Decap's: the same UDP, Geneve and option checks and results. d.IPv6
// says which underlay it was.
//
// A zero outer UDP checksum over IPv6 is accepted, as OVS accepts it (it
// creates its kernel Geneve port with udp6zerocsumrx on): RFC 8926 §3.3
// allows it for tunnels under RFC 6936, whose §5 conditions the pipeline
// meets by accepting Geneve only from known chassis to its own VTEP.
// d.UDPChecksum == 0 tells a caller that wants to be stricter. Encap6
// always sends a checksum.
//
// Decap stays IPv4-only (NotGeneve for IPv6) so that its callers, which
// read OuterSrc and OuterDst, keep their behaviour until they move here.
func DecapDual(frame []byte, d *Decapped) Result {
	l2, ok := packet.ParseL2(frame)
	if !ok {
		return ErrShort
	}
	if l2.EtherType != packet.EtherTypeIPv6 {
		// No IPv6 addresses left over from an earlier frame in the slot.
		d.OuterSrc6, d.OuterDst6 = packet.IP6{}, packet.IP6{}
		return Decap(frame, d)
	}
	d.IPv6 = true
	d.OuterSrc, d.OuterDst = packet.IP4{}, packet.IP4{}
	d.OuterSrcMAC = packet.Ethernet(frame).Src()
	if len(frame)-l2.L3Off < packet.IPv6Len {
		return ErrShort
	}
	ip := packet.IPv6(frame[l2.L3Off:])
	if ip.Version() != 6 {
		return ErrOuterIP
	}
	ipEnd := l2.L3Off + packet.IPv6Len + int(ip.PayloadLength())
	if ipEnd > len(frame) {
		return ErrOuterIP
	}
	e, r := packet.WalkIPv6Ext(frame[l2.L3Off:ipEnd])
	if r != packet.OK {
		return ErrOuterIP
	}
	if e.FragOff != 0 && packet.IPv6Fragment(frame[l2.L3Off+e.FragOff:]).IsFragment() {
		return ErrFragment
	}
	if e.Proto != packet.ProtoUDP {
		return NotGeneve
	}
	d.OuterSrc6, d.OuterDst6 = ip.Src(), ip.Dst()
	return d.decapUDP(frame, l2.L3Off+e.Off, ipEnd)
}

// verifyUDPChecksum6 is VerifyUDPChecksum over the IPv6 pseudo-header; the
// caller handled a zero checksum.
func verifyUDPChecksum6(frame []byte, d *Decapped) bool {
	dgram := frame[d.UDPOff:d.End]
	s := packet.Sum(dgram, packet.PseudoSum6(d.OuterSrc6, d.OuterDst6, packet.ProtoUDP, uint32(len(dgram))))
	return packet.Fold(s) == 0xffff
}
