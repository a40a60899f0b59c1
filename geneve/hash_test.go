package geneve

import (
	"math/bits"
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

// Vectors from Linux's include/linux/jhash.h jhash_3words compiled with gcc,
// fed (ntohl(saddr), ntohl(daddr), sport<<16|dport, proto), and the port
// from the same C with (u64)(h ^ h<<16) * 16384 >> 32 + 49152.
var hashVectors = []struct {
	src, dst     uint32
	sport, dport uint16
	proto        uint8
	hash         uint32
	port         uint16
}{
	{0x0ac7640a, 0xac1f0618, 12345, 80, 6, 0xfad5d4c2, 52101},
	{0x0ac7640a, 0xac1f0618, 12346, 80, 6, 0xd9492e37, 64991},
	{0x0ac7640a, 0xac1f0618, 12345, 80, 17, 0x794cb3ee, 62120},
	{0xac1f0618, 0x0ac7640a, 80, 12345, 6, 0x3354e33b, 62491},
	{0x00000000, 0x00000000, 0, 0, 0, 0x1b68e557, 65423},
	{0xffffffff, 0xffffffff, 65535, 65535, 255, 0xbbf7e512, 55225},
}

func TestFlowHashVectors(t *testing.T) {
	for _, v := range hashVectors {
		h := FlowHash(packet.IP4FromUint32(v.src), packet.IP4FromUint32(v.dst), v.sport, v.dport, v.proto)
		if h != v.hash {
			t.Errorf("FlowHash(%#x, %#x, %d, %d, %d) = %#x, C says %#x", v.src, v.dst, v.sport, v.dport, v.proto, h, v.hash)
		}
		if p := SourcePort(h); p != v.port {
			t.Errorf("SourcePort(%#x) = %d, C says %d", h, p, v.port)
		}
	}
}

// TestSourcePortSpread sends dperf-like load (one client, 5000 source
// ports) through FlowHash and SourcePort: the outer ports must fill the
// range about as well as random balls in 16384 bins (expected distinct
// 16384*(1-e^(-5000/16384)) ~ 4310) and stay inside it.
func TestSourcePortSpread(t *testing.T) {
	seen := map[uint16]bool{}
	for i := 0; i < 5000; i++ {
		p := SourcePort(FlowHash(vmIP, extIP, uint16(10000+i), 5001, packet.ProtoUDP))
		if p < SourcePortMin {
			t.Fatalf("port %d out of range", p)
		}
		seen[p] = true
	}
	if len(seen) < 4100 {
		t.Errorf("5000 flows gave only %d distinct source ports", len(seen))
	}
	// The range ends are reachable and never exceeded.
	if SourcePort(0) != SourcePortMin || SourcePort(0xffffffff) != SourcePortMin || SourcePort(0xffff0000) != SourcePortMax {
		t.Errorf("ends: %d %d %d", SourcePort(0), SourcePort(0xffffffff), SourcePort(0xffff0000))
	}
}

// TestFlowHashAvalanche flips each input bit of 200 tuples: on average
// about half the output bits should change, and every input bit must move
// the source port (the hash's upper bits) nearly always.
func TestFlowHashAvalanche(t *testing.T) {
	const tuples, nbits = 200, 32 + 32 + 16 + 16 + 8
	var flips int
	var portMoved [nbits]int
	for i := 0; i < tuples; i++ {
		src := 0x0ac76400 + uint32(i)
		dst := 0xac1f0618 ^ uint32(i)*2654435761
		sp, dp, pr := uint16(1024+i*37), uint16(53+i), uint8(17)
		base := FlowHash(packet.IP4FromUint32(src), packet.IP4FromUint32(dst), sp, dp, pr)
		for bit := 0; bit < nbits; bit++ {
			s, d, a, b, p := src, dst, sp, dp, pr
			switch {
			case bit < 32:
				s ^= 1 << bit
			case bit < 64:
				d ^= 1 << (bit - 32)
			case bit < 80:
				a ^= 1 << (bit - 64)
			case bit < 96:
				b ^= 1 << (bit - 80)
			default:
				p ^= 1 << (bit - 96)
			}
			h := FlowHash(packet.IP4FromUint32(s), packet.IP4FromUint32(d), a, b, p)
			flips += bits.OnesCount32(h ^ base)
			if SourcePort(h) != SourcePort(base) {
				portMoved[bit]++
			}
		}
	}
	if avg := float64(flips) / (tuples * nbits); avg < 14 || avg > 18 {
		t.Errorf("average %.2f output bits flip per input bit, want ~16", avg)
	}
	for bit, n := range portMoved {
		if n < tuples*95/100 {
			t.Errorf("input bit %d moved the source port in only %d of %d tuples", bit, n, tuples)
		}
	}
}

func BenchmarkFlowHash(b *testing.B) {
	var sink uint16
	for i := 0; i < b.N; i++ {
		sink += SourcePort(FlowHash(vmIP, extIP, uint16(i), 5001, 17))
	}
	_ = sink
}
