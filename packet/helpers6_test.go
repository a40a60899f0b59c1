package packet

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	v6Src = MustIP6("fd00:10:199::10")
	v6Dst = MustIP6("2001:db8:31::6:24")
)

func ipv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, HopLimit: 63,
		NextHeader: next, SrcIP: net.IP(v6Src[:]), DstIP: net.IP(v6Dst[:])}
}

// ext is one extension header as a test writes it, independently of
// ext6.go: proto is its own protocol number, body what follows the
// next-header and length bytes (for a fragment header, offset/M and ID).
type ext struct {
	proto uint8
	body  []byte
}

func hbh(n int) ext     { return ext{ProtoHopByHop, padOpts(n)} }
func dstopts(n int) ext { return ext{ProtoDstOpts, padOpts(n)} }

// padOpts is an options body of a header n*8 bytes long, all PadN.
func padOpts(n int) []byte {
	b := make([]byte, n*8-2)
	b[0], b[1] = 1, byte(len(b)-2)
	return b
}

// routing is a type-0 routing header with segs addresses (RH0, which
// RFC 5095 deprecated but gopacket decodes; a router walks any type the
// same way).
func routing(segs int) ext {
	b := make([]byte, 6+16*segs)
	b[0], b[1] = 0, byte(segs)
	return ext{ProtoRouting, b}
}

func frag(off uint16, more bool, id uint32) ext {
	o := off << 3
	if more {
		o |= 1
	}
	return ext{ProtoFragment, []byte{byte(o >> 8), byte(o), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}}
}

// ah is an authentication header of (n+2)*4 bytes.
func ah(n int) ext { return ext{ProtoAH, make([]byte, (n+2)*4-2)} }

// extBytes chains exts, the last one's next header being last.
func extBytes(exts []ext, last uint8) []byte {
	var b []byte
	for i, e := range exts {
		next := last
		if i+1 < len(exts) {
			next = exts[i+1].proto
		}
		var l byte
		switch e.proto {
		case ProtoFragment:
			l = 0
		case ProtoAH:
			l = byte((len(e.body)+2)/4 - 2)
		default:
			l = byte((len(e.body)+2)/8 - 1)
		}
		b = append(b, next, l)
		b = append(b, e.body...)
	}
	return b
}

// frame6 builds Ethernet/IPv6/exts/l4 with gopacket; l4 is serialized on
// its own so that its checksum covers the pseudo-header with the
// upper-layer protocol, and the IPv6 payload length counts the chain.
func frame6(t testing.TB, exts []ext, proto layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	ip := ipv6(proto)
	var seg []byte
	if len(l4) > 0 {
		if n, ok := l4[0].(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := n.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
		}
		seg = build(t, l4...)
	}
	first := uint8(proto)
	if len(exts) > 0 {
		first = exts[0].proto
	}
	outer := ipv6(layers.IPProtocol(first))
	pl := append(extBytes(exts, uint8(proto)), seg...)
	return append([]byte(nil), build(t, eth(layers.EthernetTypeIPv6), outer, gopacket.Payload(pl))...)
}

func decodeGo(b []byte) gopacket.Packet {
	return gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
}
