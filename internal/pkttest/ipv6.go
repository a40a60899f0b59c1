package pkttest

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Ext is one IPv6 extension header as a test writes it: Proto is its own
// protocol number, Body what follows its next-header and length bytes
// (for a fragment header, offset/M and identification). ExtBytes writes
// the length byte from len(Body).
type Ext struct {
	Proto uint8
	Body  []byte
}

// IPv6 extension header protocol numbers (RFC 8200), as gopacket names
// them.
const (
	ProtoHopByHop = uint8(layers.IPProtocolIPv6HopByHop)
	ProtoRouting  = uint8(layers.IPProtocolIPv6Routing)
	ProtoFragment = uint8(layers.IPProtocolIPv6Fragment)
	ProtoAH       = uint8(layers.IPProtocolAH)
	ProtoDstOpts  = uint8(layers.IPProtocolIPv6Destination)
)

// HopByHop is a hop-by-hop options header n*8 bytes long, PadN only.
func HopByHop(n int) Ext { return Ext{ProtoHopByHop, padOpts(n)} }

// DstOpts is a destination options header n*8 bytes long, PadN only.
func DstOpts(n int) Ext { return Ext{ProtoDstOpts, padOpts(n)} }

// padOpts is the options body of a header n*8 bytes long, all PadN.
func padOpts(n int) []byte {
	b := make([]byte, n*8-2)
	b[0], b[1] = 1, byte(len(b)-2)
	return b
}

// Routing is a type-0 routing header with segs addresses (RH0, which RFC
// 5095 deprecated but gopacket decodes; a router walks any type the same
// way).
func Routing(segs int) Ext {
	b := make([]byte, 6+16*segs)
	b[0], b[1] = 0, byte(segs)
	return Ext{ProtoRouting, b}
}

// Fragment is a fragment header at offset off (8-byte units).
func Fragment(off uint16, more bool, id uint32) Ext {
	o := off << 3
	if more {
		o |= 1
	}
	return Ext{ProtoFragment, []byte{byte(o >> 8), byte(o), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}}
}

// AH is an authentication header of (n+2)*4 bytes.
func AH(n int) Ext { return Ext{ProtoAH, make([]byte, (n+2)*4-2)} }

// ExtBytes chains exts, the last one's next header being last.
func ExtBytes(exts []Ext, last uint8) []byte {
	var b []byte
	for i, e := range exts {
		next := last
		if i+1 < len(exts) {
			next = exts[i+1].Proto
		}
		var l byte
		switch e.Proto {
		case ProtoFragment:
			l = 0
		case ProtoAH:
			l = byte((len(e.Body)+2)/4 - 2)
		default:
			l = byte((len(e.Body)+2)/8 - 1)
		}
		b = append(b, next, l)
		b = append(b, e.Body...)
	}
	return b
}

// IPv6Frame builds Ethernet/IPv6/exts/l4 with gopacket. ip gives the
// addresses, hop limit, traffic class and flow label, and in NextHeader
// the upper-layer protocol; l4 is serialized on its own, its checksum
// over the pseudo-header with that protocol, and the IPv6 payload length
// counts the chain. ip is not modified.
func IPv6Frame(tb testing.TB, srcMAC, dstMAC net.HardwareAddr, ip *layers.IPv6, exts []Ext, l4 ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	upper := *ip
	upper.Version = 6
	var seg []byte
	if len(l4) > 0 {
		if c, ok := l4[0].(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(&upper); err != nil {
				tb.Fatal(err)
			}
		}
		seg = Serialize(tb, l4...)
	}
	outer := upper
	if len(exts) > 0 {
		outer.NextHeader = layers.IPProtocol(exts[0].Proto)
	}
	pl := append(ExtBytes(exts, uint8(ip.NextHeader)), seg...)
	return Serialize(tb, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6},
		&outer, gopacket.Payload(pl))
}
