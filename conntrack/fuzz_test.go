package conntrack

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/packet"
)

// FuzzTable drives a small table with random operations on a small pool
// of tuples (so that hits, replies, NAT collisions and reuse happen) and
// garbage Meta, and checks the table's internal invariants after each step.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 0x02, 1, 1, 0, 0, 1, 0x12, 2, 2, 0, 1, 3, 0x10})
	f.Add([]byte{1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 0, 0, 0, 0, 0, 0, 0, 4, 200})
	f.Fuzz(fuzzTable[Tuple])
}

// FuzzTable6 is FuzzTable on an IPv6 table: the same pool of tuples in
// fd00::6:0:0/96 (fam), plus a second source prefix, so that every word
// of an IPv6 tuple varies.
func FuzzTable6(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 0x02, 1, 1, 0, 0, 1, 0x12, 2, 2, 0, 1, 3, 0x10})
	f.Add([]byte{1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 0, 0, 0, 0, 0, 0, 0, 4, 200})
	f.Add([]byte{0x22, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Fuzz(fuzzTable[Tuple6])
}

func fuzzTable[T tupleKey](t *testing.T, data []byte) {
	{
		ct, err := newTableOf[T](Config{Capacity: 8, Timeouts: Timeouts{TCPSynSent: time.Second, UDPFirst: 2 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		var now int64
		var handles []Handle
		next := func(n int) []byte {
			if len(data) < n {
				b := make([]byte, n)
				copy(b, data)
				data = nil
				return b
			}
			b := data[:n]
			data = data[n:]
			return b
		}
		for steps := 0; len(data) > 0 && steps < 200; steps++ {
			op := next(1)[0]
			sel := next(1)[0]
			k := fam[T](Tuple{
				Src:     packet.IP4{10, 0, 0, sel & 3},
				Dst:     packet.IP4{10, 0, 1, sel >> 2 & 1},
				SrcPort: uint16(sel>>3&1) + 1,
				DstPort: 80,
				Proto:   [4]uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP, 47}[sel>>4&3],
				Zone:    uint16(sel >> 6 & 1),
			})
			if !is4[T]() && op&0x20 != 0 {
				as6(&k).Src[1] = 0x01 // fd01::, another word 0
			}
			if sel&0x80 != 0 {
				k = rev(k)
			}
			b := next(12)
			m := &Meta{
				Len: binary.BigEndian.Uint16(b), TCPFlags: b[2],
				Seq: binary.BigEndian.Uint32(b[3:]), Ack: binary.BigEndian.Uint32(b[7:]) >> 8 * 997,
				Win: uint16(b[11]) << 4, WScale: int8(b[2] ^ b[11]), PayloadLen: uint16(b[1]),
				ICMPType: b[11] & 0x0f,
			}
			switch op % 8 {
			case 0, 1:
				ct.Lookup(k, m, now)
			case 2, 3:
				var ch replyChooser[T]
				if op&0x10 != 0 {
					ch = chooser[T](&snatTo{addr: ipSNAT, first: 1, last: 3})
				}
				mt, err := ct.Commit(k, m, now, ch)
				if err == nil {
					handles = append(handles, mt.Handle)
				}
			case 4:
				ct.LookupRelated(k, m, now)
			case 5:
				now += int64(b[0]) * int64(time.Second) / 8
				ct.Expire(now)
			case 6:
				if len(handles) > 0 {
					ct.Delete(handles[int(b[0])%len(handles)])
				}
			case 7:
				if len(handles) > 0 {
					ct.Touch(handles[int(b[0])%len(handles)], Dir(b[1]&1), uint64(b[2]), uint64(b[3]), now-int64(b[4])*int64(time.Millisecond))
				}
			}
			checkInvariants(t, ct)
			n := 0
			ct.Range(func(ci connInfo[T]) bool {
				n++
				if got, ok := ct.Get(ci.Handle); !ok || got.Orig != ci.Orig {
					t.Fatalf("Range gave %+v, Get %+v %v", ci, got, ok)
				}
				return true
			})
			if s := ct.Stats(); n != ct.Len() || s.Entries != n || n > 8 ||
				s.Created != uint64(n)+s.Expired+s.Deleted {
				t.Fatalf("range %d len %d stats %+v", n, ct.Len(), s)
			}
		}
		var sb discard
		if err := ct.Dump(&sb, DumpOptions{Zone: -1, Verbose: true}); err != nil {
			t.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
