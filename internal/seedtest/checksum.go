package seedtest

import (
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// OnesSum is a naive RFC 1071 sum of b, starting from initial, folded;
// 0xffff over a datagram and its checksum means "verifies".
func OnesSum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// PseudoSum is the sum of the IPv4 pseudo-header of a segment of length
// n carried by the IPv4 header ip, to start OnesSum from.
func PseudoSum(ip []byte, proto uint8, n int) uint32 {
	return uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:])) +
		uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:])) + uint32(proto) + uint32(n)
}

// VerifyOuterUDP checks an encapsulated frame's outer UDP checksum by a
// full, independent sum over the datagram, and its outer IPv4 checksum.
func VerifyOuterUDP(t testing.TB, f []byte) {
	t.Helper()
	ip := f[14:34]
	ulen := int(binary.BigEndian.Uint16(f[38:]))
	if 34+ulen != len(f) {
		t.Fatalf("outer UDP length %d, frame %d", ulen, len(f))
	}
	if binary.BigEndian.Uint16(f[40:]) == 0 {
		t.Fatal("outer UDP checksum absent")
	}
	if s := OnesSum(f[34:], PseudoSum(ip, 17, ulen)); s != 0xffff {
		t.Fatalf("outer UDP checksum %#04x does not verify (sum %#04x)", binary.BigEndian.Uint16(f[40:]), s)
	}
	if s := OnesSum(ip, 0); s != 0xffff {
		t.Fatalf("outer IPv4 checksum does not verify")
	}
}

// CheckChecksums decodes frame with gopacket and verifies every IPv4,
// TCP, UDP, ICMP and ICMPv6 checksum, outer and inner, over IPv4 and IPv6:
// IPv4 headers by re-serializing the layer with ComputeChecksums and
// comparing, the others by a naive sum over the pseudo-header of the
// network layer that carries them. Both are computations independent of
// xgw's. A UDP checksum of 0 (none) passes over IPv4 and fails over IPv6,
// where it is mandatory (RFC 8200 §8.1).
func CheckChecksums(t testing.TB, frame []byte) {
	t.Helper()
	pk := Decode(frame)
	var net network
	for _, l := range pk.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			net = network{v4: v}
			got := v.Checksum
			buf := gopacket.NewSerializeBuffer()
			c := *v
			c.Options = v.Options
			if err := c.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
				t.Fatal(err)
			}
			if want := binary.BigEndian.Uint16(buf.Bytes()[10:]); got != want {
				t.Errorf("IPv4 %v->%v checksum %#04x, want %#04x", v.SrcIP, v.DstIP, got, want)
			}
		case *layers.IPv6:
			net = network{v6: v}
		case *layers.IPv6HopByHop:
			// gopacket's IPv6 layer already left it out of its Payload.
			net.hbhLen = len(v.Contents)
		case *layers.IPv6Destination, *layers.IPv6Routing, *layers.IPv6Fragment:
			net.extLen += len(l.LayerContents())
		case *layers.TCP:
			// The segment as the IP header delimits it (gopacket's own
			// per-layer payloads are trimmed differently under Geneve).
			if sum := net.segmentSum(layers.IPProtocolTCP); sum != 0xffff {
				t.Errorf("TCP checksum %#04x does not verify (sum %#04x)", v.Checksum, sum)
			}
		case *layers.UDP:
			if v.Checksum == 0 {
				if net.v6 != nil {
					t.Errorf("UDP over IPv6 %v->%v without a checksum", net.v6.SrcIP, net.v6.DstIP)
				}
				continue
			}
			if sum := net.segmentSum(layers.IPProtocolUDP); sum != 0xffff {
				t.Errorf("UDP checksum %#04x does not verify (sum %#04x)", v.Checksum, sum)
			}
		case *layers.ICMPv4:
			all := append(append([]byte(nil), v.Contents...), v.Payload...)
			if s := OnesSum(all, 0); s != 0xffff {
				t.Errorf("ICMP checksum does not verify (sum %#04x)", s)
			}
		case *layers.ICMPv6:
			if sum := net.segmentSum(layers.IPProtocolICMPv6); sum != 0xffff {
				t.Errorf("ICMPv6 checksum %#04x does not verify (sum %#04x)", v.Checksum, sum)
			}
		}
	}
}

// network is the IP header that carries the next transport layer, and for
// IPv6 the lengths of its hop-by-hop header and of the other extension
// headers.
type network struct {
	v4             *layers.IPv4
	v6             *layers.IPv6
	hbhLen, extLen int
}

// segmentSum is the pseudo-header one's-complement sum over the segment
// that the network layer carries; 0xffff means its checksum verifies.
func (n network) segmentSum(proto layers.IPProtocol) uint16 {
	var b, seg []byte
	switch {
	case n.v4 != nil:
		seg = n.v4.Payload
		b = append(append([]byte(nil), n.v4.SrcIP.To4()...), n.v4.DstIP.To4()...)
		b = append(b, 0, byte(proto), byte(len(seg)>>8), byte(len(seg)))
	case n.v6 != nil:
		// Payload starts past any hop-by-hop header and runs to the
		// end of the payload length; the segment follows the rest of
		// the chain.
		end := int(n.v6.Length) - n.hbhLen
		if end < n.extLen || end > len(n.v6.Payload) {
			return 0
		}
		seg = n.v6.Payload[n.extLen:end]
		b = append(append([]byte(nil), n.v6.SrcIP.To16()...), n.v6.DstIP.To16()...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(seg)))
		b = append(b, 0, 0, 0, byte(proto))
	default:
		return 0
	}
	return OnesSum(append(b, seg...), 0)
}

// FixOuterUDP recomputes the outer UDP checksum of a Geneve frame whose
// datagram runs to the end of f, after a test changed bytes under it.
func FixOuterUDP(f []byte) {
	binary.BigEndian.PutUint16(f[40:], 0)
	ip := f[14:34]
	ps := PseudoSum(ip, 17, len(f)-34)
	c := ^OnesSum(f[34:], ps)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(f[40:], c)
}
