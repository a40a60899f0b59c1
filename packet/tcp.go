package packet

import "encoding/binary"

// TCP constants.
const (
	TCPMinLen    = 20
	TCPFlagFIN   = 0x01
	TCPFlagSYN   = 0x02
	TCPFlagRST   = 0x04
	TCPFlagPSH   = 0x08
	TCPFlagACK   = 0x10
	TCPFlagURG   = 0x20
	TCPFlagECE   = 0x40
	TCPFlagCWR   = 0x80
	tcpOptEnd    = 0
	tcpOptNOP    = 1
	tcpOptWScale = 3
)

// TCP is a view of a TCP header, options included.
type TCP []byte

func (t TCP) SrcPort() uint16      { return binary.BigEndian.Uint16(t[0:]) }
func (t TCP) DstPort() uint16      { return binary.BigEndian.Uint16(t[2:]) }
func (t TCP) Seq() uint32          { return binary.BigEndian.Uint32(t[4:]) }
func (t TCP) Ack() uint32          { return binary.BigEndian.Uint32(t[8:]) }
func (t TCP) DataOffset() int      { return int(t[12]>>4) * 4 }
func (t TCP) Flags() uint8         { return t[13] }
func (t TCP) Window() uint16       { return binary.BigEndian.Uint16(t[14:]) }
func (t TCP) Checksum() uint16     { return binary.BigEndian.Uint16(t[16:]) }
func (t TCP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(t[0:], p) }
func (t TCP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(t[2:], p) }
func (t TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(t[16:], c) }

// WindowScale returns the window-scale option (RFC 7323) if present. It
// walks the options without allocating and stops at malformed ones.
func (t TCP) WindowScale() (uint8, bool) {
	end := t.DataOffset()
	if end > len(t) {
		end = len(t)
	}
	for i := TCPMinLen; i < end; {
		switch t[i] {
		case tcpOptEnd:
			return 0, false
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= end {
			return 0, false
		}
		l := int(t[i+1])
		if l < 2 || i+l > end {
			return 0, false
		}
		if t[i] == tcpOptWScale && l == 3 {
			ws := t[i+2]
			if ws > 14 {
				ws = 14
			}
			return ws, true
		}
		i += l
	}
	return 0, false
}

// ComputeChecksum computes the checksum over segment t (header and payload)
// with the pseudo-header.
func (t TCP) ComputeChecksum(src, dst IP4) uint16 {
	t.SetChecksum(0)
	return Checksum(t, PseudoSum(src, dst, ProtoTCP, uint16(len(t))))
}
