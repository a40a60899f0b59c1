package packet

import "encoding/binary"

// Ethernet header sizes and types.
const (
	EthernetLen   = 14
	VLANTagLen    = 4
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100
	EtherTypeIPv6 = 0x86dd
)

// Ethernet is a view of an Ethernet II header.
type Ethernet []byte

func (e Ethernet) Dst() (m MAC)          { copy(m[:], e[0:6]); return }
func (e Ethernet) Src() (m MAC)          { copy(m[:], e[6:12]); return }
func (e Ethernet) SetDst(m MAC)          { copy(e[0:6], m[:]) }
func (e Ethernet) SetSrc(m MAC)          { copy(e[6:12], m[:]) }
func (e Ethernet) EtherType() uint16     { return binary.BigEndian.Uint16(e[12:]) }
func (e Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(e[12:], t) }

// L2 describes the link layer of a frame: the EtherType after an optional
// 802.1Q tag and where the network header starts.
type L2 struct {
	EtherType uint16
	VLAN      uint16 // VLAN ID, 0 if untagged
	Tagged    bool
	L3Off     int
}

// ParseL2 reads the Ethernet header of frame. It accepts one 802.1Q tag.
func ParseL2(frame []byte) (L2, bool) {
	if len(frame) < EthernetLen {
		return L2{}, false
	}
	l := L2{EtherType: Ethernet(frame).EtherType(), L3Off: EthernetLen}
	if l.EtherType == EtherTypeVLAN {
		if len(frame) < EthernetLen+VLANTagLen {
			return L2{}, false
		}
		l.Tagged = true
		l.VLAN = binary.BigEndian.Uint16(frame[14:]) & 0x0fff
		l.EtherType = binary.BigEndian.Uint16(frame[16:])
		l.L3Off = EthernetLen + VLANTagLen
	}
	return l, true
}
