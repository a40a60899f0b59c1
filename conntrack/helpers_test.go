package conntrack

import (
	"testing"
	"time"

	"github.com/xgw-dev/xgw/packet"
)

const sec = int64(time.Second)

var (
	ipVM   = packet.MustIP4("10.199.100.10")
	ipVM2  = packet.MustIP4("10.199.100.11")
	ipExt  = packet.MustIP4("172.31.6.24")
	ipSNAT = packet.MustIP4("123.123.123.123")
)

func newTable(tb testing.TB, cfg Config) *Table {
	tb.Helper()
	t, err := NewTable(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func tcpTuple(zone uint16) Tuple {
	return Tuple{Src: ipVM, Dst: ipExt, SrcPort: 47190, DstPort: 22, Proto: packet.ProtoTCP, Zone: zone}
}

func udpTuple(zone, sport uint16) Tuple {
	return Tuple{Src: ipVM, Dst: ipExt, SrcPort: sport, DstPort: 80, Proto: packet.ProtoUDP, Zone: zone}
}

func seg(flags uint8, seq, ack uint32, win uint16, payload uint16) *Meta {
	return &Meta{Len: 40 + payload, TCPFlags: flags, Seq: seq, Ack: ack, Win: win, WScale: -1, PayloadLen: payload}
}

// snatTo rewrites the source to addr:port on the way out, like ct(nat(src=)).
type snatTo struct {
	addr  packet.IP4
	first uint16
	last  uint16
	calls int
	seen  []uint16 // ports found taken
}

func (s *snatTo) ChooseReply(orig Tuple, taken Taken) (Tuple, bool) {
	s.calls++
	r := orig.Reverse()
	r.Dst = s.addr
	for p := s.first; ; p++ {
		r.DstPort = p
		if !taken.Taken(r) {
			return r, true
		}
		s.seen = append(s.seen, p)
		if p == s.last {
			return Tuple{}, false
		}
	}
}

// hashedSNAT is snatTo that starts its search at a port chosen by a hash
// of the original tuple, as the real SNAT chooser (nat/alloc.go) does, so
// that concurrent commits of different flows rarely probe the same
// ports; the search wraps from last to first.
type hashedSNAT struct {
	addr        packet.IP4
	first, last uint16
}

func (s *hashedSNAT) ChooseReply(orig Tuple, taken Taken) (Tuple, bool) {
	h := uint64(orig.Src.Uint32())<<32 | uint64(orig.Dst.Uint32())
	h ^= uint64(orig.SrcPort)<<48 | uint64(orig.DstPort)<<32 | uint64(orig.Proto)
	h ^= h >> 33 // splitmix64 finalizer
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	n := uint64(s.last) - uint64(s.first) + 1
	r := orig.Reverse()
	r.Dst = s.addr
	start := h % n
	for i := uint64(0); i < n; i++ {
		r.DstPort = s.first + uint16((start+i)%n)
		if !taken.Taken(r) {
			return r, true
		}
	}
	return Tuple{}, false
}

// mustState fails unless got has exactly the bits of want.
func mustState(tb testing.TB, what string, got, want State) {
	tb.Helper()
	if got != want {
		tb.Fatalf("%s: ct_state %s (%#x), want %s (%#x)", what, got, uint8(got), want, uint8(want))
	}
}

// handshake commits an established TCP connection (window scale 7 both
// ways): orig ISN 1000, reply ISN 5000.
func handshake[T tupleKey](tb testing.TB, t *table[T], k T, ch replyChooser[T], now int64) match[T] {
	tb.Helper()
	syn := seg(tcpSYN, 1000, 0, 65535, 0)
	syn.WScale = 7
	if mt, ok := t.Lookup(k, syn, now); ok || mt.State != Tracked|New {
		tb.Fatalf("SYN lookup: ok=%v state %s", ok, mt.State)
	}
	mt, err := t.Commit(k, syn, now, ch)
	if err != nil {
		tb.Fatal(err)
	}
	r := mt.Reply
	synack := seg(tcpSYN|tcpACK, 5000, 1001, 65535, 0)
	synack.WScale = 7
	got, ok := t.Lookup(r, synack, now)
	if !ok {
		tb.Fatal("SYN+ACK missed")
	}
	mustState(tb, "SYN+ACK", got.State&^(SrcNAT|DstNAT), Tracked|Established|ReplyDir)
	got, ok = t.Lookup(k, seg(tcpACK, 1001, 5001, 512, 0), now)
	if !ok {
		tb.Fatal("ACK missed")
	}
	mustState(tb, "ACK", got.State&^(SrcNAT|DstNAT), Tracked|Established)
	return mt
}

// checkInvariants cross-checks the slab, the index and the lists.
func checkInvariants[T tupleKey](tb testing.TB, t *table[T]) {
	tb.Helper()
	for i := range t.shards {
		t.shards[i].mu.Lock()
	}
	defer func() {
		for i := range t.shards {
			t.shards[i].mu.Unlock()
		}
	}()
	live, inLists := 0, 0
	keys := make([]int, len(t.shards))
	for s := range t.shards {
		sh := &t.shards[s]
		shLive := 0
		for i := sh.base; i < sh.hiwater; i++ {
			e := &t.entries[i]
			if e.class == classFree {
				continue
			}
			shLive++
			if e.class >= numClasses {
				tb.Fatalf("entry %d: class %d", i, e.class)
			}
			for d := DirOrig; d <= DirReply; d++ {
				idx, dir, ok := t.find(e.key(d))
				if !ok || idx != i || dir != d {
					tb.Fatalf("entry %d dir %d: index gives %d/%d/%v", i, d, idx, dir, ok)
				}
				keys[t.regionOf(e.key(d))]++
			}
		}
		if shLive != int(sh.live) || sh.live > int32(sh.size) {
			tb.Fatalf("shard %d: live %d, counted %d, size %d", s, sh.live, shLive, sh.size)
		}
		live += shLive
		for c := range sh.heads {
			prev := nilIdx
			for i := sh.heads[c]; i != nilIdx; i = t.entries[i].next {
				e := &t.entries[i]
				if e.class != class(c) || e.prev != prev || t.owner(i) != uint32(s) {
					tb.Fatalf("shard %d list %d: entry %d class %d prev %d want %d", s, c, i, e.class, e.prev, prev)
				}
				prev = i
				inLists++
			}
			if sh.tails[c] != prev {
				tb.Fatalf("shard %d list %d: tail %d, walked to %d", s, c, sh.tails[c], prev)
			}
		}
	}
	used := 0
	for r := range t.shards {
		n := 0
		for _, s := range t.slots[uint32(r)*t.regionSize : uint32(r+1)*t.regionSize] {
			if s != 0 {
				n++
			}
		}
		if n != int(t.shards[r].keys) || n != keys[r] {
			tb.Fatalf("region %d holds %d keys, counts %d, entries name %d", r, n, t.shards[r].keys, keys[r])
		}
		used += n
	}
	if used != 2*live {
		tb.Fatalf("index holds %d keys for %d conns", used, live)
	}
	if inLists != live {
		tb.Fatalf("lists hold %d conns, %d live", inLists, live)
	}
}

// scanned sums the shards' Expire work counters.
func (t *table[T]) scanned() uint64 {
	var n uint64
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.scanned
		sh.mu.Unlock()
	}
	return n
}
