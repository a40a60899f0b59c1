package packet

import (
	"encoding/binary"
	"math/rand"
	"testing"
)

// refChecksum is a deliberately naive RFC 1071 implementation to check Sum.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		r.Read(b)
		if got, want := Checksum(b, 0), refChecksum(b); got != want {
			t.Fatalf("len %d: Checksum=%#04x want %#04x", n, got, want)
		}
	}
}

// TestIncrementalMatchesFull changes random 16/32-bit fields of random
// buffers and checks that every incremental form equals a recomputation.
func TestIncrementalMatchesFull(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, 40)
		r.Read(b)
		binary.BigEndian.PutUint16(b[10:], 0)
		binary.BigEndian.PutUint16(b[10:], Checksum(b, 0))
		orig := binary.BigEndian.Uint16(b[10:])

		var oldA, newA IP4
		copy(oldA[:], b[12:16])
		r.Read(newA[:])
		oldP := binary.BigEndian.Uint16(b[20:])
		newP := uint16(r.Intn(65536))
		copy(b[12:16], newA[:])
		binary.BigEndian.PutUint16(b[20:], newP)

		binary.BigEndian.PutUint16(b[10:], 0)
		want := Checksum(b, 0)

		got := Update16(Update32(orig, oldA, newA), oldP, newP)
		if Fold(uint32(got)) != Fold(uint32(want)) && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("iter %d: incremental %#04x, full %#04x", i, got, want)
		}
		d := Delta(0).AddUpdate32(oldA, newA).AddUpdate16(oldP, newP)
		if got2 := d.Apply(orig); got2 != got {
			t.Fatalf("iter %d: Delta %#04x, Update %#04x", i, got2, got)
		}
		// The stored checksum must verify over the modified data.
		binary.BigEndian.PutUint16(b[10:], got)
		if Fold(Sum(b, 0)) != 0xffff {
			t.Fatalf("iter %d: incrementally updated checksum does not verify", i)
		}
	}
}

func TestApplyUDPZeroRules(t *testing.T) {
	d := Delta(0).AddUpdate16(1, 2)
	if got := d.ApplyUDP(0); got != 0 {
		t.Fatalf("zero (no checksum) must stay zero, got %#04x", got)
	}
	// Find a checksum whose update lands exactly on zero: ~(~c + ~1 + 2) == 0
	// means ~c + 1 == 0xffff, c == 1.
	if got := Delta(0).AddUpdate16(1, 2).ApplyUDP(1); got != 0xffff {
		t.Fatalf("computed zero must become 0xffff, got %#04x", got)
	}
	if UDPChecksumFinal(0) != 0xffff || UDPChecksumFinal(7) != 7 {
		t.Fatal("UDPChecksumFinal")
	}
}

func TestIPv4DecTTLAndSetAddrs(t *testing.T) {
	h := make(IPv4, 20)
	h.Encode(IPv4Fields{TotalLen: 20, TTL: 64, Protocol: ProtoUDP, Src: MustIP4("10.0.0.1"), Dst: MustIP4("10.0.0.2"), DF: true})
	if !h.ChecksumValid() {
		t.Fatal("Encode produced a bad checksum")
	}
	h.DecTTL()
	h.SetSrc(MustIP4("203.0.113.10"))
	h.SetDst(MustIP4("198.51.100.2"))
	if h.TTL() != 63 || h.Src() != MustIP4("203.0.113.10") || h.Dst() != MustIP4("198.51.100.2") {
		t.Fatalf("fields not written: ttl %d src %v dst %v", h.TTL(), h.Src(), h.Dst())
	}
	if !h.ChecksumValid() {
		t.Fatal("checksum invalid after incremental updates")
	}
	if !h.DontFragment() || h.IsFragment() {
		t.Fatal("flags")
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(1500)
	for i := 0; i < b.N; i++ {
		Checksum(buf, 0)
	}
}

// TestPseudoSumMatchesBytes checks the pseudo-header sum against summing
// the 12 pseudo-header bytes, with addresses whose words carry into each
// other (a precedence slip once hid behind addresses like 10.0.0.1).
func TestPseudoSumMatchesBytes(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 10000; i++ {
		var src, dst IP4
		r.Read(src[:])
		r.Read(dst[:])
		l := uint16(r.Intn(65536))
		b := []byte{src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2], dst[3], 0, ProtoUDP, byte(l >> 8), byte(l)}
		if got, want := Fold(PseudoSum(src, dst, ProtoUDP, l)), Fold(Sum(b, 0)); got != want {
			t.Fatalf("%v %v %d: PseudoSum %#04x, bytes %#04x", src, dst, l, got, want)
		}
	}
}

// TestSumWideMatchesReference: the 64-bit accumulation equals the 16-bit
// reference for any length, any initial accumulator, and the all-ones
// data that makes every 64-bit add carry.
func TestSumWideMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for n := 0; n < 300; n++ {
		for _, fill := range []int{-1, 0, 0xff} {
			b := make([]byte, n)
			if fill < 0 {
				r.Read(b)
			} else {
				for i := range b {
					b[i] = byte(fill)
				}
			}
			for _, init := range []uint32{0, 1, 0xffff, 0x1fffe, r.Uint32() >> 1, 0xffffffff} {
				ref := refChecksum(b)
				// The reference with the initial accumulator folded in.
				s := uint32(^ref) + init&0xffff + init>>16
				for s>>16 != 0 {
					s = s&0xffff + s>>16
				}
				if got, want := Fold(Sum(b, init)), uint16(s); got != want && !(n == 0 && init == 0) {
					t.Fatalf("len %d fill %d init %#x: Fold(Sum)=%#04x want %#04x", n, fill, init, got, want)
				}
			}
		}
	}
}

// TestIPv4HeaderFastPaths holds the loop-free header sums (ChecksumValid's
// 20-byte case, Encode's sum from the fields, DecTTL's computed word) to
// the generic Sum over the bytes, on random headers.
func TestIPv4HeaderFastPaths(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 5000; i++ {
		f := IPv4Fields{TOS: uint8(rng.Uint32()), TotalLen: uint16(rng.Uint32()), ID: uint16(rng.Uint32()),
			DF: rng.Intn(2) == 0, TTL: uint8(rng.Uint32()), Protocol: uint8(rng.Uint32())}
		binary.BigEndian.PutUint32(f.Src[:], rng.Uint32())
		binary.BigEndian.PutUint32(f.Dst[:], rng.Uint32())
		h := make(IPv4, IPv4MinLen)
		for j := range h {
			h[j] = byte(rng.Uint32()) // Encode must overwrite every byte
		}
		h.Encode(f)
		if Fold(Sum(h, 0)) != 0xffff || !h.ChecksumValid() {
			t.Fatalf("case %d: Encode(%+v) = %x: checksum does not verify", i, f, []byte(h))
		}
		if want := ^Fold(Sum(append(append([]byte{}, h[:10]...), append([]byte{0, 0}, h[12:]...)...), 0)); h.Checksum() != want {
			t.Fatalf("case %d: Encode checksum %#x, want %#x", i, h.Checksum(), want)
		}
		// A corrupted header fails both ways alike.
		bad := append(IPv4{}, h...)
		bad[1+rng.Intn(IPv4MinLen-1)] ^= byte(1 + rng.Intn(255)) // not the IHL
		if got, want := bad.ChecksumValid(), Fold(Sum(bad, 0)) == 0xffff; got != want {
			t.Fatalf("case %d: ChecksumValid(%x) = %v, generic %v", i, []byte(bad), got, want)
		}
		if f.TTL > 1 {
			h.DecTTL()
			if h.TTL() != f.TTL-1 || !h.ChecksumValid() || Fold(Sum(h, 0)) != 0xffff {
				t.Fatalf("case %d: DecTTL: %x", i, []byte(h))
			}
		}
	}
}

// TestAddUpdate32OneFold: AddUpdate32's single fold gives exactly what two
// AddUpdate16 calls give, edge words (0, 0xffff) included.
func TestAddUpdate32OneFold(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	edge := []uint16{0, 1, 0xfffe, 0xffff}
	word := func() uint16 {
		if rng.Intn(3) == 0 {
			return edge[rng.Intn(len(edge))]
		}
		return uint16(rng.Uint32())
	}
	for i := 0; i < 200000; i++ {
		d := Delta(word())
		var o, n IP4
		binary.BigEndian.PutUint16(o[0:], word())
		binary.BigEndian.PutUint16(o[2:], word())
		binary.BigEndian.PutUint16(n[0:], word())
		binary.BigEndian.PutUint16(n[2:], word())
		want := d.AddUpdate16(binary.BigEndian.Uint16(o[0:]), binary.BigEndian.Uint16(n[0:])).
			AddUpdate16(binary.BigEndian.Uint16(o[2:]), binary.BigEndian.Uint16(n[2:]))
		if got := d.AddUpdate32(o, n); got != want {
			t.Fatalf("Delta(%#x).AddUpdate32(%v, %v) = %#x, want %#x", uint32(d), o, n, uint32(got), uint32(want))
		}
	}
}
