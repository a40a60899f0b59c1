package geneve

import "encoding/binary"

// Wire constants (RFC 8926 §3.4).
const (
	// Port is the IANA-assigned UDP destination port (RFC 8926 §3.3).
	Port = 6081
	// HeaderLen is the fixed part of the header, before options.
	HeaderLen = 8
	// MaxOptLen is the largest options area: Opt Len is 6 bits of
	// 4-byte words.
	MaxOptLen = 63 * 4
	// ProtoEthernet is Transparent Ethernet Bridging, the only payload OVN
	// sends.
	ProtoEthernet = 0x6558
)

const (
	flagOAM      = 0x80
	flagCritical = 0x40
)

// Header is a view of a Geneve header, options included. Accessors trust
// the caller to have checked len(h) >= HeaderLen, and Options also that
// len(h) >= Len(); Decap does both.
type Header []byte

// Version is the 2-bit version; only 0 is defined.
func (h Header) Version() uint8 { return h[0] >> 6 }

// OptLen is the length of the options area in bytes.
func (h Header) OptLen() int { return int(h[0]&0x3f) * 4 }

// Len is the header length including options.
func (h Header) Len() int { return HeaderLen + h.OptLen() }

// OAM reports the O bit: a control message, not tenant data (§3.4).
func (h Header) OAM() bool { return h[1]&flagOAM != 0 }

// Critical reports the C bit: some option has its critical bit set. It is a
// hint for endpoints that skip options; Decap checks every option anyway.
func (h Header) Critical() bool { return h[1]&flagCritical != 0 }

// Protocol is the EtherType of the payload.
func (h Header) Protocol() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// VNI is the 24-bit Virtual Network Identifier.
func (h Header) VNI() uint32 { return uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]) }

// Options is the options area; its TLVs alias h.
func (h Header) Options() Options { return Options(h[HeaderLen:h.Len()]) }

// HeaderFields are the values to write a fresh header.
type HeaderFields struct {
	OptLen   int // bytes, a multiple of 4, at most MaxOptLen
	OAM      bool
	Critical bool
	Protocol uint16
	VNI      uint32 // low 24 bits used
}

// Encode writes the fixed 8 bytes; reserved fields are zeroed as §3.4
// requires of senders. The caller writes the options after them.
func (h Header) Encode(f HeaderFields) {
	h[0] = uint8(f.OptLen/4) & 0x3f // version 0
	var flags uint8
	if f.OAM {
		flags |= flagOAM
	}
	if f.Critical {
		flags |= flagCritical
	}
	h[1] = flags
	binary.BigEndian.PutUint16(h[2:], f.Protocol)
	binary.BigEndian.PutUint32(h[4:], f.VNI<<8)
}
