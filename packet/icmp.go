package packet

import "encoding/binary"

// ICMPv4 constants.
const (
	ICMPLen             = 8
	ICMPEchoReply       = 0
	ICMPDestUnreachable = 3
	ICMPSourceQuench    = 4
	ICMPRedirect        = 5
	ICMPEchoRequest     = 8
	ICMPTimeExceeded    = 11
	ICMPParamProblem    = 12
)

// ICMPv4 is a view of an ICMPv4 header and its body.
type ICMPv4 []byte

func (c ICMPv4) Type() uint8          { return c[0] }
func (c ICMPv4) Code() uint8          { return c[1] }
func (c ICMPv4) Checksum() uint16     { return binary.BigEndian.Uint16(c[2:]) }
func (c ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(c[2:], v) }

// ID is the echo identifier (echo request/reply only).
func (c ICMPv4) ID() uint16      { return binary.BigEndian.Uint16(c[4:]) }
func (c ICMPv4) SetID(id uint16) { binary.BigEndian.PutUint16(c[4:], id) }
func (c ICMPv4) Seq() uint16     { return binary.BigEndian.Uint16(c[6:]) }

// Payload is what follows the 8-byte header: for errors, the embedded IPv4
// header and at least 8 bytes of its payload.
func (c ICMPv4) Payload() []byte { return c[ICMPLen:] }

// IsEcho reports whether the message is an echo request or reply.
func IsEcho(t uint8) bool { return t == ICMPEchoRequest || t == ICMPEchoReply }

// IsError reports whether the type carries an embedded datagram.
func IsError(t uint8) bool {
	switch t {
	case ICMPDestUnreachable, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return false
}

// ComputeChecksum computes the checksum over the whole message c.
func (c ICMPv4) ComputeChecksum() uint16 {
	c.SetChecksum(0)
	return Checksum(c, 0)
}
