package packet

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestPseudoSum6MatchesBytes checks the pseudo-header sum against summing
// the 40 pseudo-header bytes of RFC 8200 §8.1.
func TestPseudoSum6MatchesBytes(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for i := 0; i < 10000; i++ {
		var src, dst IP6
		r.Read(src[:])
		r.Read(dst[:])
		if i%3 == 0 {
			for j := range src {
				src[j], dst[j] = 0xff, 0xff // every word carries
			}
		}
		l := r.Uint32()
		if i%2 == 0 {
			l &= 0xffff
		}
		b := make([]byte, 0, 40)
		b = append(b, src[:]...)
		b = append(b, dst[:]...)
		b = binary.BigEndian.AppendUint32(b, l)
		b = append(b, 0, 0, 0, ProtoTCP)
		if got, want := Fold(PseudoSum6(src, dst, ProtoTCP, l)), Fold(Sum(b, 0)); got != want {
			t.Fatalf("%v %v %d: PseudoSum6 %#04x, bytes %#04x", src, dst, l, got, want)
		}
	}
}

// TestUpdate128MatchesFull rewrites an address in random segments the way
// NAT66 does and checks Update128 and Delta.AddUpdate128 against a full
// recomputation.
func TestUpdate128MatchesFull(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for i := 0; i < 20000; i++ {
		seg := make(TCP, 20+r.Intn(40))
		r.Read(seg)
		var src, dst, nsrc IP6
		r.Read(src[:])
		r.Read(dst[:])
		r.Read(nsrc[:])
		if i%5 == 0 {
			nsrc = src
			nsrc[15] ^= 1
		}
		orig := seg.ComputeChecksum6(src, dst)
		seg.SetChecksum(orig)
		want := seg.ComputeChecksum6(nsrc, dst)
		got := Update128(orig, src, nsrc)
		if got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("iter %d: Update128 %#04x, full %#04x", i, got, want)
		}
		oldP, newP := seg.SrcPort(), uint16(r.Intn(65536))
		d := Delta(0).AddUpdate128(src, nsrc).AddUpdate16(oldP, newP)
		seg.SetSrcPort(newP)
		seg.SetChecksum(d.Apply(orig))
		if !L4ChecksumValid6(seg, nsrc, dst, ProtoTCP) {
			t.Fatalf("iter %d: Delta-updated checksum does not verify", i)
		}
	}
}

// TestTransportChecksum6MatchesGopacket: TCP and UDP checksums over IPv6
// equal gopacket's, and a zero UDP checksum is never valid.
func TestTransportChecksum6MatchesGopacket(t *testing.T) {
	ip := ipv6(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, ACK: true, Seq: 77}
	tcp.SetNetworkLayerForChecksum(ip)
	seg := TCP(build(t, tcp, gopacket.Payload("some data")))
	want := seg.Checksum()
	if got := seg.ComputeChecksum6(v6Src, v6Dst); got != want {
		t.Fatalf("TCP %#04x, gopacket %#04x", got, want)
	}
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	udp.SetNetworkLayerForChecksum(ip)
	u := UDP(build(t, udp, gopacket.Payload("x")))
	want = u.Checksum()
	if got := u.ComputeChecksum6(v6Src, v6Dst); got != want {
		t.Fatalf("UDP %#04x, gopacket %#04x", got, want)
	}
	u.SetChecksum(want)
	if !L4ChecksumValid6(u, v6Src, v6Dst, ProtoUDP) {
		t.Fatal("valid UDP refused")
	}
	u.SetChecksum(0)
	if L4ChecksumValid6(u, v6Src, v6Dst, ProtoUDP) {
		t.Fatal("UDP checksum 0 accepted over IPv6")
	}
}

// BenchmarkPseudoSum compares the IPv4 and IPv6 pseudo-header sums and
// the address rewrite deltas of NAT44 and NAT66.
func BenchmarkPseudoSum(b *testing.B) {
	s4, d4 := MustIP4("10.0.0.1"), MustIP4("192.0.2.1")
	b.Run("v4", func(b *testing.B) {
		var x uint32
		for i := 0; i < b.N; i++ {
			x += PseudoSum(s4, d4, ProtoUDP, uint16(i))
		}
		sink32 = x
	})
	b.Run("v6", func(b *testing.B) {
		var x uint32
		for i := 0; i < b.N; i++ {
			x += PseudoSum6(v6Src, v6Dst, ProtoUDP, uint32(i))
		}
		sink32 = x
	})
}

func BenchmarkAddressDelta(b *testing.B) {
	o4, n4 := MustIP4("10.0.0.1"), MustIP4("203.0.113.1")
	n6 := MustIP6("2001:db8:ffff::1")
	b.Run("v4", func(b *testing.B) {
		b.ReportAllocs()
		var d Delta
		for i := 0; i < b.N; i++ {
			d = d.AddUpdate32(o4, n4)
		}
		sink32 = uint32(d)
	})
	b.Run("v6", func(b *testing.B) {
		b.ReportAllocs()
		var d Delta
		for i := 0; i < b.N; i++ {
			d = d.AddUpdate128(v6Src, n6)
		}
		sink32 = uint32(d)
	})
}

var sink32 uint32

func TestChecksum6Allocs(t *testing.T) {
	seg := make(UDP, 64)
	n := MustIP6("2001:db8::9")
	if a := testing.AllocsPerRun(1000, func() {
		seg.SetChecksum(seg.ComputeChecksum6(v6Src, v6Dst))
		seg.SetChecksum(Delta(0).AddUpdate128(v6Src, n).ApplyUDP(seg.Checksum()))
		_ = L4ChecksumValid6(seg, n, v6Dst, ProtoUDP)
	}); a != 0 {
		t.Fatalf("%v allocs per run", a)
	}
}
