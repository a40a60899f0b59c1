package nat

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// BenchmarkRewrite6 is BenchmarkRewrite for NAT66 (16-byte addresses into
// the TCP checksum), to read next to the IPv4 figure.
func BenchmarkRewrite6(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"tcp-64B", 6}, {"tcp-1500B", 1400}} {
		b.Run(bc.name, func(b *testing.B) {
			frame := build6(b, ip6Layer(vm6, peer6, layers.IPProtocolTCP),
				&layers.TCP{SrcPort: 5000, DstPort: 5201, ACK: true, Window: 502}, gopacket.Payload(make([]byte, bc.size)))
			var p packet.Parsed
			p.DecodeDual(frame)
			out := conntrack.Tuple6{Src: snat6, Dst: peer6, SrcPort: 61000, DstPort: 5201, Proto: packet.ProtoTCP}
			back := conntrack.Tuple6{Src: vm6, Dst: peer6, SrcPort: 5000, DstPort: 5201, Proto: packet.ProtoTCP}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				Rewrite6(frame, &p, out)
				Rewrite6(frame, &p, back)
			}
		})
	}
}

// BenchmarkRewriteICMPError6 is BenchmarkRewriteICMPError for ICMPv6.
func BenchmarkRewriteICMPError6(b *testing.B) {
	ct, _ := conntrack.NewTable6(conntrack.Config{Capacity: 16})
	m := snat66Conn(b, ct, packet.ProtoUDP, 5000, 5201, 0)
	m.Dir = conntrack.DirReply
	sent := datagram6(udp6Frame(b, snat6, 30000, peer6, 5201))
	orig := icmp6ErrFrame(b, peer6, snat6, packet.ICMPv6DestUnreachable, 4, 0, sent)
	frame := append([]byte(nil), orig...)
	var p packet.Parsed
	b.ReportAllocs()
	for b.Loop() {
		copy(frame, orig)
		p.DecodeDual(frame)
		RewriteICMPError6(frame, &p, &m)
	}
}

// BenchmarkChooseReply6 is SNAT6's reply choice with the source port free.
func BenchmarkChooseReply6(b *testing.B) {
	s, _ := NewSNAT6(netip.MustParsePrefix("fd00::/64"), []packet.IP6{snat6}, 0, 0)
	orig := conntrack.Tuple6{Src: vm6, Dst: peer6, SrcPort: 5000, DstPort: 5201, Proto: packet.ProtoUDP, Zone: 16}
	b.ReportAllocs()
	for b.Loop() {
		s.ChooseReply(orig, noneTaken6)
	}
}
