package conntrack

import (
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

// TestUpdatePairEqualsLookup drives two tables with the same packets, one
// through Lookup and one through UpdatePair, and compares every connection.
func TestUpdatePairEqualsLookup(t *testing.T) {
	bothFamilies(t, testUpdatePairEqualsLookup[Tuple], testUpdatePairEqualsLookup[Tuple6])
}

func testUpdatePairEqualsLookup[T tupleKey](t *testing.T) {
	mk := func() (*table[T], match[T], match[T]) {
		ct, err := newTableOf[T](Config{Capacity: 64})
		if err != nil {
			t.Fatal(err)
		}
		m := &Meta{Len: 60, TCPFlags: tcpSYN, Seq: 100, Win: 1000, WScale: -1}
		a, err := ct.Commit(pairTupleOf[T](6), m, 1e9, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ct.Commit(pairTupleOf[T](16), m, 1e9, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ct, a, b
	}
	ref, _, _ := mk()
	got, a, b := mk()
	steps := []struct {
		dir Dir
		m   Meta
	}{
		{DirReply, Meta{Len: 60, TCPFlags: tcpSYN | tcpACK, Seq: 500, Ack: 101, Win: 1000, WScale: -1}},
		{DirOrig, Meta{Len: 52, TCPFlags: tcpACK, Seq: 101, Ack: 501, Win: 1000, WScale: -1}},
		{DirOrig, Meta{Len: 152, TCPFlags: tcpACK, Seq: 101, Ack: 501, Win: 1000, WScale: -1, PayloadLen: 100}},
		{DirReply, Meta{Len: 52, TCPFlags: tcpACK, Seq: 501, Ack: 201, Win: 1000, WScale: -1}},
	}
	for i, s := range steps {
		now := int64(2e9 + i)
		for _, z := range []uint16{6, 16} {
			k := pairTupleOf[T](z)
			if s.dir == DirReply {
				k = rev(k)
			}
			m := s.m
			if _, ok := ref.Lookup(k, &m, now); !ok {
				t.Fatalf("step %d: reference lookup missed", i)
			}
		}
		m := s.m
		if r, ok := got.UpdatePair(a.Handle, s.dir, b.Handle, s.dir, &m, now); !ok || r.State[1]&Established == 0 && i > 0 {
			t.Fatalf("step %d: UpdatePair ok=%v state %v", i, ok, r.State)
		}
	}
	for _, h := range []Handle{a.Handle, b.Handle} {
		g, _ := got.Get(h)
		var r connInfo[T]
		ref.Range(func(c connInfo[T]) bool {
			if c.Orig == g.Orig {
				r = c
			}
			return true
		})
		g.Handle, r.Handle = 0, 0
		if g != r {
			t.Fatalf("UpdatePair diverged from Lookup:\n%+v\n%+v", g, r)
		}
	}
	// Out of window: refused, nothing changed.
	before, _ := got.Get(b.Handle)
	m := Meta{Len: 1052, TCPFlags: tcpACK, Seq: 101 + 1<<30, Ack: 501, Win: 1000, WScale: -1, PayloadLen: 1000}
	if _, ok := got.UpdatePair(a.Handle, DirOrig, b.Handle, DirOrig, &m, 3e9); ok {
		t.Fatal("out-of-window segment accepted")
	}
	if after, _ := got.Get(b.Handle); after != before {
		t.Fatal("refused update changed the second connection")
	}
	// Stale handle.
	got.Delete(b.Handle)
	if _, ok := got.UpdatePair(a.Handle, DirOrig, b.Handle, DirOrig, &Meta{Len: 52, TCPFlags: tcpACK, Seq: 201, Ack: 501, Win: 1000, WScale: -1}, 3e9); ok {
		t.Fatal("stale handle accepted")
	}
}

func pairTuple(zone uint16) Tuple {
	return Tuple{Src: packet.MustIP4("10.199.100.10"), Dst: packet.MustIP4("172.31.6.24"), SrcPort: 40000, DstPort: 80, Proto: packet.ProtoTCP, Zone: zone}
}

func TestUpdatePairAllocs(t *testing.T) {
	bothFamilies(t, testUpdatePairAllocs[Tuple], testUpdatePairAllocs[Tuple6])
}

func testUpdatePairAllocs[T tupleKey](t *testing.T) {
	ct, _ := newTableOf[T](Config{Capacity: 64})
	m := &Meta{Len: 60}
	k := fam[T](Tuple{Src: packet.MustIP4("10.0.0.1"), Dst: packet.MustIP4("10.0.0.2"), SrcPort: 1, DstPort: 2, Proto: 17, Zone: 1})
	a, _ := ct.Commit(k, m, 1e9, nil)
	tailOf(&k).Zone = 2
	b, _ := ct.Commit(k, m, 1e9, nil)
	if n := testing.AllocsPerRun(1000, func() { ct.UpdatePair(a.Handle, DirOrig, b.Handle, DirOrig, m, 2e9) }); n != 0 {
		t.Fatalf("UpdatePair allocates %v", n)
	}
}

// TestSetLiberal: a connection rebuilt from a midstream pickup with made-up
// sequence numbers refuses the real segments until it is made liberal.
func TestSetLiberal(t *testing.T) { bothFamilies(t, testSetLiberal[Tuple], testSetLiberal[Tuple6]) }

func testSetLiberal[T tupleKey](t *testing.T) {
	ct, _ := newTableOf[T](Config{Capacity: 8})
	k := pairTupleOf[T](16)
	ack := &Meta{Len: 40, TCPFlags: tcpACK, Win: 0xffff, WScale: -1}
	c, err := ct.Commit(k, ack, 1e9, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ct.Lookup(rev(k), ack, 1e9); !ok {
		t.Fatal("pickup reply refused")
	}
	fin := &Meta{Len: 52, TCPFlags: tcpACK | tcpFIN, Seq: 3_000_000_000, Ack: 1_000_000_000, Win: 500, WScale: -1, PayloadLen: 1000}
	if m, _ := ct.Lookup(k, fin, 2e9); m.State&Invalid == 0 {
		t.Fatal("a far-away segment was accepted without SetLiberal; the test shows nothing")
	}
	if !ct.SetLiberal(c.Handle) {
		t.Fatal("SetLiberal refused a live handle")
	}
	if m, ok := ct.Lookup(k, fin, 2e9); !ok || m.State&Invalid != 0 {
		t.Fatalf("liberal connection refused the segment: %+v", m)
	}
	if ci, _ := ct.Get(c.Handle); ci.TCP == TCPEstablished {
		t.Fatal("the FIN did not move the connection on")
	}
}
