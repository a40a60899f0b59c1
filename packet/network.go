package packet

// Network is what the IPv4 and IPv6 header views have in common, in the
// manner of gVisor's header.Network: code that only needs addresses as
// bytes, the protocol and the payload length can take either family.
// Addresses alias the header (4 or 16 bytes).
type Network interface {
	SrcBytes() []byte
	DstBytes() []byte
	// TransportProtocol is the IPv4 Protocol or the IPv6 fixed header's
	// Next Header (before any extension header; see WalkIPv6Ext).
	TransportProtocol() uint8
	// PayloadLen is the length after the header: IPv4 total length minus
	// header length, IPv6 payload length (extension headers included).
	PayloadLen() int
}

var (
	_ Network = IPv4(nil)
	_ Network = IPv6(nil)
)

func (h IPv4) SrcBytes() []byte         { return h[12:16] }
func (h IPv4) DstBytes() []byte         { return h[16:20] }
func (h IPv4) TransportProtocol() uint8 { return h.Protocol() }
func (h IPv4) PayloadLen() int          { return int(h.TotalLen()) - h.HeaderLen() }

func (h IPv6) SrcBytes() []byte         { return h[8:24] }
func (h IPv6) DstBytes() []byte         { return h[24:40] }
func (h IPv6) TransportProtocol() uint8 { return h.NextHeader() }
func (h IPv6) PayloadLen() int          { return int(h.PayloadLength()) }
