package nat

import (
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// BenchmarkRewrite is the per-packet cost on the software path: a TCP
// segment's address and port translated and back (two rewrites per op).
func BenchmarkRewrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"tcp-64B", 6}, {"tcp-1500B", 1400}} {
		b.Run(bc.name, func(b *testing.B) {
			frame := tcpFrame(b, vmIP, 5000, peerIP, 5201, make([]byte, bc.size))
			var p packet.Parsed
			p.Decode(frame)
			out := tuple(snatIP, 61000, peerIP, 5201, packet.ProtoTCP, 0)
			back := tuple(vmIP, 5000, peerIP, 5201, packet.ProtoTCP, 0)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				Rewrite(frame, &p, out)
				Rewrite(frame, &p, back)
			}
		})
	}
}

func BenchmarkRewriteICMPError(b *testing.B) {
	m := seedConn(b, packet.ProtoUDP, 5000, 5201, noneTaken)
	m.Dir = conntrack.DirReply
	sent := datagram(udpFrame(b, snatIP, 5000, peerIP, 5201, []byte("x")))
	orig := icmpErrFrame(b, peerIP, snatIP, packet.ICMPDestUnreachable, 3, sent)
	frame := append([]byte(nil), orig...)
	var p packet.Parsed
	b.ReportAllocs()
	for b.Loop() {
		copy(frame, orig)
		p.Decode(frame)
		RewriteICMPError(frame, &p, &m)
	}
}

// BenchmarkChooseReply measures reply choice against a table of 64k conns
// (a map standing in for conntrack): with the source port free, and with
// it taken so that a probe runs.
func BenchmarkChooseReply(b *testing.B) {
	s := mustSNAT(b, "10.0.0.0/8", 0, 0, snatIP, packet.IP4{203, 0, 113, 2})
	taken := takenSet{}
	for i := 0; i < 1<<15; i++ {
		orig := tuple(packet.IP4FromUint32(0x0a000000+uint32(i)), 5000, peerIP, 5201, packet.ProtoUDP, snatZone)
		reply, ok := s.ChooseReply(orig, taken)
		if !ok {
			b.Fatal("refused")
		}
		taken.commit(orig, reply)
	}
	var tk conntrack.Taken = taken
	for _, bc := range []struct {
		name string
		orig conntrack.Tuple
	}{
		{"port-kept", tuple(vmIP, 5001, peerIP, 5201, packet.ProtoUDP, snatZone)},
		{"probe", tuple(packet.IP4{10, 9, 9, 9}, 5000, peerIP, 5201, packet.ProtoUDP, snatZone)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.ChooseReply(bc.orig, tk); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}
