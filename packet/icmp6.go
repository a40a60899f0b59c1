package packet

import "encoding/binary"

// ICMPv6 constants (RFC 4443, RFC 4861).
const (
	// ICMPv6Len is the header with its first body word (echo ID/seq, MTU,
	// pointer, or unused), as ICMPLen for ICMPv4.
	ICMPv6Len = 8

	ICMPv6DestUnreachable = 1
	ICMPv6PacketTooBig    = 2
	ICMPv6TimeExceeded    = 3
	ICMPv6ParamProblem    = 4
	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6RouterSolicit   = 133
	ICMPv6RouterAdvert    = 134
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
	ICMPv6Redirect        = 137

	// NDMinLen is an NS or NA without options: header, flags/reserved,
	// target address (RFC 4861 §4.3, §4.4).
	NDMinLen = ICMPv6Len + 16

	// Neighbour discovery option types (RFC 4861 §4.6.1) and the size of
	// a link-layer address option for Ethernet.
	NDOptSourceLinkAddr = 1
	NDOptTargetLinkAddr = 2
	NDOptLinkAddrLen    = 8

	// Neighbour advertisement flags (RFC 4861 §4.4).
	NAFlagRouter    = 0x80
	NAFlagSolicited = 0x40
	NAFlagOverride  = 0x20
)

// ICMPv6 is a view of an ICMPv6 message, header and body.
type ICMPv6 []byte

func (c ICMPv6) Type() uint8          { return c[0] }
func (c ICMPv6) Code() uint8          { return c[1] }
func (c ICMPv6) Checksum() uint16     { return binary.BigEndian.Uint16(c[2:]) }
func (c ICMPv6) SetType(t uint8)      { c[0] = t }
func (c ICMPv6) SetCode(v uint8)      { c[1] = v }
func (c ICMPv6) SetChecksum(v uint16) { binary.BigEndian.PutUint16(c[2:], v) }

// ID and Seq are the echo identifier and sequence (echo request/reply).
func (c ICMPv6) ID() uint16      { return binary.BigEndian.Uint16(c[4:]) }
func (c ICMPv6) SetID(id uint16) { binary.BigEndian.PutUint16(c[4:], id) }
func (c ICMPv6) Seq() uint16     { return binary.BigEndian.Uint16(c[6:]) }
func (c ICMPv6) SetSeq(s uint16) { binary.BigEndian.PutUint16(c[6:], s) }

// MTU is the next-hop MTU of a packet too big message (RFC 4443 §3.2).
func (c ICMPv6) MTU() uint32         { return binary.BigEndian.Uint32(c[4:]) }
func (c ICMPv6) SetMTU(m uint32)     { binary.BigEndian.PutUint32(c[4:], m) }
func (c ICMPv6) Pointer() uint32     { return binary.BigEndian.Uint32(c[4:]) }
func (c ICMPv6) SetPointer(p uint32) { binary.BigEndian.PutUint32(c[4:], p) }

// Payload is what follows the 8-byte header: for errors, as much of the
// invoking packet as fits in the minimum MTU (RFC 4443 §2.4 (c)).
func (c ICMPv6) Payload() []byte { return c[ICMPv6Len:] }

// NDTarget is the target address of an NS or NA; len(c) >= NDMinLen.
func (c ICMPv6) NDTarget() (a IP6)  { copy(a[:], c[8:24]); return }
func (c ICMPv6) SetNDTarget(a IP6)  { copy(c[8:24], a[:]) }
func (c ICMPv6) NAFlags() uint8     { return c[4] }
func (c ICMPv6) SetNAFlags(f uint8) { c[4], c[5], c[6], c[7] = f, 0, 0, 0 }
func (c ICMPv6) NDOptions() []byte  { return c[NDMinLen:] }

// NDLinkAddr finds the link-layer address option typ
// (NDOptSourceLinkAddr or NDOptTargetLinkAddr) in the options of an NS or
// NA. ok is false if it is absent or if the options are malformed (a zero
// length or one past the message, RFC 4861 §4.6: the message is then
// invalid and the caller drops it); malformed reports the latter.
func (c ICMPv6) NDLinkAddr(typ uint8) (m MAC, ok, malformed bool) {
	o := c.NDOptions()
	for len(o) > 0 {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return MAC{}, false, true
		}
		l := int(o[1]) * 8
		if o[0] == typ && l == NDOptLinkAddrLen && !ok {
			copy(m[:], o[2:8])
			ok = true
		}
		o = o[l:]
	}
	return m, ok, false
}

// PutNDLinkAddr writes a link-layer address option for Ethernet into b
// and returns its length, NDOptLinkAddrLen.
func PutNDLinkAddr(b []byte, typ uint8, m MAC) int {
	b[0], b[1] = typ, 1
	copy(b[2:8], m[:])
	return NDOptLinkAddrLen
}

// IsEcho6 reports whether t is an ICMPv6 echo request or reply.
func IsEcho6(t uint8) bool { return t == ICMPv6EchoRequest || t == ICMPv6EchoReply }

// IsError6 reports whether t is an ICMPv6 error, which carries the
// invoking packet (types below 128, RFC 4443 §2.1).
func IsError6(t uint8) bool { return t < 128 }

// ComputeChecksum computes the checksum over the whole message c with the
// IPv6 pseudo-header (RFC 4443 §2.3), ready to store.
func (c ICMPv6) ComputeChecksum(src, dst IP6) uint16 {
	c.SetChecksum(0)
	return Checksum(c, PseudoSum6(src, dst, ProtoICMPv6, uint32(len(c))))
}
