package ipfrag

import (
	"bytes"
	"testing"
	"time"
)

var k1 = Key{Src: [4]byte{10, 0, 0, 1}, Dst: [4]byte{198, 51, 100, 1}, ID: 7, Proto: 17, In: 1}

func newT(t *testing.T, c Config) *Table {
	t.Helper()
	tb, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func fr(start, end int, more bool) Frag {
	return Frag{Start: start, End: end, More: more, IPLen: 20 + end - start}
}

func admit(t *testing.T, tb *Table, f Frag, want Result) Info {
	t.Helper()
	r, info := tb.Admit(&k1, f, []byte{byte(f.Start / 40), 1, 2}, 1, 0)
	if r != want {
		t.Fatalf("Admit(%+v) = %v, want %v", f, r, want)
	}
	return info
}

func TestInOrder(t *testing.T) {
	tb := newT(t, Config{})
	admit(t, tb, fr(0, 1480, true), First)
	tb.SetFirst(&k1, Info{SrcPort: 1, DstPort: 2}, 0)
	if info := admit(t, tb, fr(1480, 2960, true), Known); info.SrcPort != 1 || info.DstPort != 2 {
		t.Fatalf("info %+v", info)
	}
	admit(t, tb, fr(2960, 4008, false), Known)
	s := tb.Stats()
	if s.Completed != 1 || s.Datagrams != 0 || s.Known != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOutOfOrderHoldsAndReleases(t *testing.T) {
	tb := newT(t, Config{})
	admit(t, tb, fr(2960, 4008, false), Held)
	admit(t, tb, fr(1480, 2960, true), Held)
	if tb.Ready() {
		t.Fatal("ready before the first fragment")
	}
	admit(t, tb, fr(0, 1480, true), First)
	tb.SetFirst(&k1, Info{SrcPort: 5, DstPort: 6, ICMPType: 8}, 0)
	buf := make([]byte, tb.Config().SlotSize)
	var got []byte
	for {
		n, in, info, ok := tb.TakeReady(buf)
		if !ok {
			break
		}
		if in != 1 || info.SrcPort != 5 || info.ICMPType != 8 || n != 3 {
			t.Fatalf("released n=%d in=%d info=%+v", n, in, info)
		}
		got = append(got, buf[tb.Config().Headroom])
	}
	if !bytes.Equal(got, []byte{2960 / 40, 1480 / 40}) {
		t.Fatalf("released %v, want arrival order", got)
	}
	s := tb.Stats()
	if s.Held != 2 || s.Released != 2 || s.Completed != 1 || s.HeldNow != 0 || s.Datagrams != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOverlap(t *testing.T) {
	tb := newT(t, Config{})
	admit(t, tb, fr(0, 1480, true), First)
	tb.SetFirst(&k1, Info{}, 0)
	admit(t, tb, fr(0, 1480, true), Overlap) // exact duplicate: dropped, datagram fine
	admit(t, tb, fr(1480, 2960, true), Known)
	admit(t, tb, fr(2952, 4000, false), Overlap) // partial: poisons
	admit(t, tb, fr(2960, 4000, false), Overlap)
	if s := tb.Stats(); s.Overlap != 3 {
		t.Fatalf("overlap %d, want 3", s.Overlap)
	}
}

func TestOverlapFreesHeld(t *testing.T) {
	tb := newT(t, Config{})
	admit(t, tb, fr(1480, 2960, true), Held)
	admit(t, tb, fr(1000, 2000, true), Overlap)
	if s := tb.Stats(); s.HeldNow != 0 || s.Overlap != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLimits(t *testing.T) {
	tb := newT(t, Config{MaxFragments: 3, MaxHeld: 1, MinSize: 500})
	admit(t, tb, fr(0, 400, true), TooSmall)
	admit(t, tb, fr(1000, 1500, true), Held)
	admit(t, tb, fr(2000, 2500, true), NoMemory) // one hold slot
	admit(t, tb, fr(0, 1000, true), First)
	tb.SetFirst(&k1, Info{}, 0)
	admit(t, tb, fr(1500, 2000, true), Known)
	admit(t, tb, fr(2000, 2500, false), TooMany)
	admit(t, tb, fr(0, 0, true), Malformed)
	admit(t, tb, fr(65000, 65536, false), Malformed)
	s := tb.Stats()
	if s.TooSmall != 1 || s.NoMemory != 1 || s.TooMany != 1 || s.Malformed != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTableFull(t *testing.T) {
	tb := newT(t, Config{MaxDatagrams: 8})
	for i := range 8 {
		k := k1
		k.ID = uint32(i)
		if r, _ := tb.Admit(&k, fr(0, 1000, true), nil, 1, 0); r != First {
			t.Fatalf("datagram %d: %v", i, r)
		}
	}
	k := k1
	k.ID = 99
	if r, _ := tb.Admit(&k, fr(0, 1000, true), nil, 1, 0); r != NoMemory {
		t.Fatalf("ninth datagram in a set of 8: %v", r)
	}
	// Once they expire, the set takes new datagrams.
	if r, _ := tb.Admit(&k, fr(0, 1000, true), nil, 1, int64(16*time.Second)); r != First {
		t.Fatalf("after expiry: %v", r)
	}
	if s := tb.Stats(); s.Expired != 8 || s.Datagrams != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTimeoutDropsHeld(t *testing.T) {
	tb := newT(t, Config{Timeout: time.Second})
	admit(t, tb, fr(1480, 2960, true), Held)
	if n := tb.Expire(int64(time.Second) - 1); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	tb.nextExpire.Store(0)
	if n := tb.Expire(int64(time.Second)); n != 1 {
		t.Fatalf("expired %d held, want 1", n)
	}
	s := tb.Stats()
	if s.Timeout != 1 || s.HeldNow != 0 || s.Datagrams != 0 || s.Expired != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The first fragment now starts a new datagram: nothing to release.
	admit(t, tb, fr(0, 1480, true), First)
	tb.SetFirst(&k1, Info{}, int64(time.Second))
	if tb.Ready() {
		t.Fatal("a timed-out fragment was released")
	}
}

func TestFail(t *testing.T) {
	tb := newT(t, Config{})
	admit(t, tb, fr(1480, 2960, true), Held)
	admit(t, tb, fr(0, 1480, true), First)
	if n := tb.Fail(&k1, 0); n != 1 {
		t.Fatalf("Fail dropped %d held, want 1", n)
	}
	admit(t, tb, fr(2960, 4000, false), Failed)
	if s := tb.Stats(); s.Failed != 2 || s.HeldNow != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAdmitKnownZeroAllocs(t *testing.T) {
	tb := newT(t, Config{})
	frame := make([]byte, 1500)
	n := testing.AllocsPerRun(1000, func() {
		tb.Admit(&k1, fr(0, 1480, true), frame, 1, 0)
		tb.SetFirst(&k1, Info{SrcPort: 1}, 0)
		tb.Admit(&k1, fr(1480, 2960, true), frame, 1, 0)
		tb.Admit(&k1, fr(2960, 4000, false), frame, 1, 0)
	})
	if n != 0 {
		t.Fatalf("%v allocs per datagram", n)
	}
	if s := tb.Stats(); s.Datagrams != 0 {
		t.Fatalf("datagrams left: %d", s.Datagrams)
	}
}

// k6 is an IPv6 datagram whose key shares k1's IPv4 fields.
var k6 = Key{V6: true, Src6: [16]byte{0: 0xfd, 15: 0x10}, Dst6: [16]byte{0: 0x20, 1: 0x01, 15: 6}, ID: 0x12340007, Proto: 17, In: 1}

// TestIPv6Keys checks that IPv6 datagrams are told apart by their 32-bit
// identification and their addresses, and never meet IPv4 ones: a later
// fragment of another datagram is held, not Known.
func TestIPv6Keys(t *testing.T) {
	tb := newT(t, Config{})
	if r, _ := tb.Admit(&k6, fr(0, 1232, true), nil, 1, 0); r != First {
		t.Fatalf("first: %v", r)
	}
	tb.SetFirst(&k6, Info{SrcPort: 9, DstPort: 53}, 0)
	for _, k := range []Key{
		func() Key { k := k6; k.ID = 7; return k }(),          // same low 16 bits
		func() Key { k := k6; k.ID = 0x12350007; return k }(), // high bits differ
		func() Key { k := k6; k.Src6[15] = 11; return k }(),
		func() Key { k := k6; k.Dst6[0] = 0x21; return k }(),
		func() Key { k := k6; k.V6, k.Src6, k.Dst6 = false, [16]byte{}, [16]byte{}; return k }(),
	} {
		if r, _ := tb.Admit(&k, fr(1232, 2464, true), []byte{1}, 1, 0); r != Held {
			t.Fatalf("%+v: %v, want held (another datagram)", k, r)
		}
	}
	r, info := tb.Admit(&k6, fr(1232, 2464, true), []byte{1}, 1, 0)
	if r != Known || info.SrcPort != 9 || info.DstPort != 53 {
		t.Fatalf("own later fragment: %v %+v", r, info)
	}
}
