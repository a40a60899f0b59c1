package conntrack

import "testing"

// One-way UDP (the seed's dperf load) must stay +new until a reply comes.
func TestUDPNewUntilReply(t *testing.T) {
	bothFamilies(t, testUDPNewUntilReply[Tuple], testUDPNewUntilReply[Tuple6])
}

func testUDPNewUntilReply[T tupleKey](t *testing.T) {
	to := DefaultTimeouts()
	ct := newTab[T](t, Config{Capacity: 16})
	k := udpTupleOf[T](0, 2391)
	m := &Meta{Len: 60}
	if mt, ok := ct.Lookup(k, m, 0); ok || mt.State != Tracked|New {
		t.Fatalf("first: %v %s", ok, mt.State)
	}
	mt, err := ct.Commit(k, m, 0, nil)
	if err != nil || mt.State != Tracked|New {
		t.Fatalf("commit: %v %s", err, mt.State)
	}
	for i := int64(1); i <= 5; i++ {
		got, ok := ct.Lookup(k, m, i*sec)
		if !ok || got.State != Tracked|New {
			t.Fatalf("orig packet %d: %v %s", i, ok, got.State)
		}
	}
	ci, _ := ct.Get(mt.Handle)
	if ci.Expires != 5*sec+int64(to.UDPSingle) || ci.State != Tracked|New || ci.TCP != TCPClosed {
		t.Fatalf("one-way: %+v", ci)
	}
	got, ok := ct.Lookup(rev(k), m, 6*sec)
	if !ok || got.State != Tracked|Established|ReplyDir || got.Dir != DirReply {
		t.Fatalf("reply: %v %+v", ok, got)
	}
	got, _ = ct.Lookup(k, m, 7*sec)
	mustState(t, "orig after reply", got.State, Tracked|Established)
	ci, _ = ct.Get(mt.Handle)
	if ci.Expires != 7*sec+int64(to.UDPMultiple) || ci.Packets != [2]uint64{7, 1} || ci.Bytes[DirReply] != 60 {
		t.Fatalf("bidir: %+v", ci)
	}
}

func TestZonesIsolateIdenticalTuples(t *testing.T) {
	bothFamilies(t, testZonesIsolateIdenticalTuples[Tuple], testZonesIsolateIdenticalTuples[Tuple6])
}

func testZonesIsolateIdenticalTuples[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	m := &Meta{Len: 60}
	a, err := ct.Commit(udpTupleOf[T](6, 1), m, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mt, ok := ct.Lookup(udpTupleOf[T](16, 1), m, 0); ok {
		t.Fatalf("zone 16 sees zone 6's conn: %+v", mt)
	}
	b, err := ct.Commit(udpTupleOf[T](16, 1), m, 0, chooser[T](&snatTo{addr: ipSNAT, first: 1024, last: 2048}))
	if err != nil || a.Handle == b.Handle {
		t.Fatalf("zone 16 commit: %v %+v", err, b)
	}
	got, _ := ct.Lookup(rev(udpTupleOf[T](6, 1)), m, sec)
	if got.Handle != a.Handle || got.State != Tracked|Established|ReplyDir {
		t.Fatalf("zone 6 reply: %+v", got)
	}
	if got, ok := ct.Lookup(b.Reply, m, sec); !ok || got.Handle != b.Handle || got.State != Tracked|Established|ReplyDir|SrcNAT {
		t.Fatalf("zone 16 reply: %+v", got)
	}
	// Zone 16's un-NATed reverse tuple is nobody's.
	if _, ok := ct.Lookup(rev(udpTupleOf[T](16, 1)), m, sec); ok {
		t.Fatal("un-NATed reply hit in the SNAT zone")
	}
}

func TestOtherProtocolTrackedLikeUDP(t *testing.T) {
	bothFamilies(t, testOtherProtocolTrackedLikeUDP[Tuple], testOtherProtocolTrackedLikeUDP[Tuple6])
}

func testOtherProtocolTrackedLikeUDP[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 4})
	k := fam[T](Tuple{Src: ipVM, Dst: ipExt, Proto: 47, Zone: 3}) // GRE
	mt, err := ct.Commit(k, nil, 0, nil)
	if err != nil || mt.State != Tracked|New {
		t.Fatal(err, mt.State)
	}
	got, _ := ct.Lookup(rev(k), nil, sec)
	mustState(t, "gre reply", got.State, Tracked|Established|ReplyDir)
}
