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

// mustState fails unless got has exactly the bits of want.
func mustState(tb testing.TB, what string, got, want State) {
	tb.Helper()
	if got != want {
		tb.Fatalf("%s: ct_state %s (%#x), want %s (%#x)", what, got, uint8(got), want, uint8(want))
	}
}

// handshake commits an established TCP connection (window scale 7 both
// ways): orig ISN 1000, reply ISN 5000.
func handshake(tb testing.TB, t *Table, k Tuple, ch ReplyChooser, now int64) Match {
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
func checkInvariants(tb testing.TB, t *Table) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	live := 0
	for i := uint32(0); i < t.hiwater; i++ {
		e := &t.entries[i]
		if e.class == classFree {
			continue
		}
		live++
		if e.class >= numClasses {
			tb.Fatalf("entry %d: class %d", i, e.class)
		}
		for d := DirOrig; d <= DirReply; d++ {
			idx, dir, ok := t.find(e.key(d))
			if !ok || idx != i || dir != d {
				tb.Fatalf("entry %d dir %d: index gives %d/%d/%v", i, d, idx, dir, ok)
			}
		}
	}
	if live != t.live {
		tb.Fatalf("live %d, counted %d", t.live, live)
	}
	used := 0
	for _, s := range t.slots {
		if s != 0 {
			used++
		}
	}
	if used != 2*live {
		tb.Fatalf("index holds %d keys for %d conns", used, live)
	}
	inLists := 0
	for c := range t.heads {
		prev := nilIdx
		for i := t.heads[c]; i != nilIdx; i = t.entries[i].next {
			e := &t.entries[i]
			if e.class != class(c) || e.prev != prev {
				tb.Fatalf("list %d: entry %d class %d prev %d want %d", c, i, e.class, e.prev, prev)
			}
			prev = i
			inLists++
		}
		if t.tails[c] != prev {
			tb.Fatalf("list %d: tail %d, walked to %d", c, t.tails[c], prev)
		}
	}
	if inLists != live {
		tb.Fatalf("lists hold %d conns, %d live", inLists, live)
	}
}
