package packet

import "encoding/binary"

// UDPLen is the size of a UDP header.
const UDPLen = 8

// UDP is a view of a UDP header.
type UDP []byte

func (u UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(u[0:]) }
func (u UDP) DstPort() uint16      { return binary.BigEndian.Uint16(u[2:]) }
func (u UDP) Length() uint16       { return binary.BigEndian.Uint16(u[4:]) }
func (u UDP) Checksum() uint16     { return binary.BigEndian.Uint16(u[6:]) }
func (u UDP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(u[0:], p) }
func (u UDP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(u[2:], p) }
func (u UDP) SetLength(l uint16)   { binary.BigEndian.PutUint16(u[4:], l) }
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[6:], c) }

// ComputeChecksum computes the checksum over header and payload u (which
// must be exactly the datagram) with the pseudo-header, in wire form.
func (u UDP) ComputeChecksum(src, dst IP4) uint16 {
	u.SetChecksum(0)
	return UDPChecksumFinal(Checksum(u, PseudoSum(src, dst, ProtoUDP, uint16(len(u)))))
}
