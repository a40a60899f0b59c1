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

// CheckChecksums decodes frame with gopacket and verifies every IPv4, TCP,
// UDP and ICMP checksum, outer and inner: IPv4 headers by re-serializing
// the layer with ComputeChecksums and comparing, the others by a naive
// sum. Both are computations independent of xgw's.
func CheckChecksums(t testing.TB, frame []byte) {
	t.Helper()
	pk := Decode(frame)
	var lastIP *layers.IPv4
	for _, l := range pk.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			lastIP = v
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
		case *layers.TCP:
			// The segment as the IP header delimits it (gopacket's own
			// per-layer payloads are trimmed differently under Geneve).
			if sum := segmentSum(lastIP); sum != 0xffff {
				t.Errorf("TCP checksum %#04x does not verify (sum %#04x)", v.Checksum, sum)
			}
		case *layers.UDP:
			if v.Checksum == 0 {
				continue
			}
			if sum := segmentSum(lastIP); sum != 0xffff {
				t.Errorf("UDP checksum %#04x does not verify (sum %#04x)", v.Checksum, sum)
			}
		case *layers.ICMPv4:
			all := append(append([]byte(nil), v.Contents...), v.Payload...)
			if s := OnesSum(all, 0); s != 0xffff {
				t.Errorf("ICMP checksum does not verify (sum %#04x)", s)
			}
		}
	}
}

// segmentSum is the pseudo-header one's-complement sum over the segment
// that ip carries; 0xffff means its checksum verifies.
func segmentSum(ip *layers.IPv4) uint16 {
	seg := ip.Payload
	b := append(append([]byte(nil), ip.SrcIP.To4()...), ip.DstIP.To4()...)
	b = append(b, 0, byte(ip.Protocol), byte(len(seg)>>8), byte(len(seg)))
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
