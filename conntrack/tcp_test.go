package conntrack

import "testing"

func TestTCPHandshakeEstablishes(t *testing.T) {
	bothFamilies(t, testTCPHandshakeEstablishes[Tuple], testTCPHandshakeEstablishes[Tuple6])
}

func testTCPHandshakeEstablishes[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	k := tcpTupleOf[T](0)
	mt := handshake(t, ct, k, nil, 1*sec)
	if mt.Dir != DirOrig || mt.State != Tracked|New {
		t.Fatalf("commit match %+v", mt)
	}
	// Data both ways is +est, replies +rpl.
	got, _ := ct.Lookup(k, seg(tcpACK|tcpPSH, 1001, 5001, 512, 100), 2*sec)
	mustState(t, "data orig", got.State, Tracked|Established)
	got, _ = ct.Lookup(rev(k), seg(tcpACK, 5001, 1101, 512, 0), 2*sec)
	mustState(t, "data reply", got.State, Tracked|Established|ReplyDir)
	if got.Dir != DirReply || got.Handle != mt.Handle {
		t.Fatalf("reply match %+v", got)
	}
	ci, ok := ct.Get(mt.Handle)
	if !ok || ci.TCP != TCPEstablished {
		t.Fatalf("Get: %+v %v", ci, ok)
	}
	if ci.Packets != [2]uint64{3, 2} || ci.Bytes != [2]uint64{40 + 40 + 140, 40 + 40} {
		t.Fatalf("counters %v %v", ci.Packets, ci.Bytes)
	}
	if ci.Expires != 2*sec+int64(DefaultTimeouts().TCPEstablished) {
		t.Fatalf("expires %d", ci.Expires)
	}
	checkInvariants(t, ct)
}

func TestTCPSynAckCannotCreate(t *testing.T) {
	bothFamilies(t, testTCPSynAckCannotCreate[Tuple], testTCPSynAckCannotCreate[Tuple6])
}

func testTCPSynAckCannotCreate[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	k := tcpTupleOf[T](0)
	for _, f := range []uint8{tcpSYN | tcpACK, tcpSYN | tcpRST, tcpSYN | tcpFIN, tcpFIN, 0, tcpPSH} {
		mt, ok := ct.Lookup(k, seg(f, 1, 0, 100, 0), 0)
		if ok || mt.State != Tracked|Invalid {
			t.Fatalf("flags %#x: %v %s", f, ok, mt.State)
		}
		if _, err := ct.Commit(k, seg(f, 1, 0, 100, 0), 0, nil); err != ErrInvalid {
			t.Fatalf("flags %#x: commit err %v", f, err)
		}
	}
	if ct.Len() != 0 || ct.Stats().InvalidPackets != 12 {
		t.Fatalf("len %d stats %+v", ct.Len(), ct.Stats())
	}
	// A mid-stream ACK may start a connection (pickup), as in OVS.
	mt, err := ct.Commit(k, seg(tcpACK, 777, 888, 1000, 10), 0, nil)
	if err != nil || mt.State != Tracked|New {
		t.Fatalf("pickup: %v %s", err, mt.State)
	}
	got, _ := ct.Lookup(rev(k), seg(tcpACK, 888, 787, 1000, 0), sec)
	mustState(t, "pickup reply", got.State, Tracked|Established|ReplyDir)
}

func TestTCPOutOfWindowIsInvalidAndChangesNothing(t *testing.T) {
	bothFamilies(t, testTCPOutOfWindowIsInvalidAndChangesNothing[Tuple], testTCPOutOfWindowIsInvalidAndChangesNothing[Tuple6])
}

func testTCPOutOfWindowIsInvalidAndChangesNothing[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	k := tcpTupleOf[T](0)
	h := handshake(t, ct, k, nil, sec).Handle
	before, _ := ct.Get(h)
	for _, m := range []*Meta{
		seg(tcpACK, 1001+10_000_000, 5001, 512, 100), // far ahead
		seg(tcpACK, 4_000_000_000, 5001, 512, 100),   // far behind (wrapped)
		seg(tcpACK, 1001, 5001+10_000_000, 512, 0),   // acks data never sent
		seg(tcpRST|tcpACK, 1500, 5001, 512, 0),       // RST needs an exact sequence
		seg(tcpACK|tcpFIN, 1001+10_000_000, 5001, 512, 0),
	} {
		got, ok := ct.Lookup(k, m, 5*sec)
		if !ok || got.State != Tracked|Invalid || got.Handle != h {
			t.Fatalf("%+v: ok=%v %s", m, ok, got.State)
		}
	}
	after, _ := ct.Get(h)
	if before != after {
		t.Fatalf("state changed:\n%+v\n%+v", before, after)
	}
	// The liberal table accepts the same segment.
	lib := newTab[T](t, Config{Capacity: 16, TCPLiberal: true})
	handshake(t, lib, k, nil, sec)
	if got, _ := lib.Lookup(k, seg(tcpACK, 1001+10_000_000, 5001, 512, 100), 5*sec); got.State != Tracked|Established {
		t.Fatalf("liberal: %s", got.State)
	}
}

func TestTCPTeardownThenExpiry(t *testing.T) {
	bothFamilies(t, testTCPTeardownThenExpiry[Tuple], testTCPTeardownThenExpiry[Tuple6])
}

func testTCPTeardownThenExpiry[T tupleKey](t *testing.T) {
	to := DefaultTimeouts()
	ct := newTab[T](t, Config{Capacity: 16})
	k, r := tcpTupleOf[T](0), rev(tcpTupleOf[T](0))
	h := handshake(t, ct, k, nil, sec).Handle
	steps := []struct {
		k     T
		m     *Meta
		state string
		exp   int64
	}{
		{k, seg(tcpFIN|tcpACK, 1001, 5001, 512, 0), "CLOSING", int64(to.TCPFinWait)},
		{r, seg(tcpACK, 5001, 1002, 512, 0), "TIME_WAIT", int64(to.TCPFinWait)}, // FIN_WAIT_2, shown as OVS does
		{r, seg(tcpFIN|tcpACK, 5001, 1002, 512, 0), "TIME_WAIT", int64(to.TCPTimeWait)},
		{k, seg(tcpACK, 1002, 5002, 512, 0), "TIME_WAIT", int64(to.TCPClose)},
	}
	now := 2 * sec
	for i, s := range steps {
		got, ok := ct.Lookup(s.k, s.m, now)
		if !ok || got.State&Invalid != 0 {
			t.Fatalf("step %d: %v %s", i, ok, got.State)
		}
		ci, _ := ct.Get(h)
		if ci.TCP.String() != s.state || ci.Expires != now+s.exp {
			t.Fatalf("step %d: %s expires %d, want %s %d", i, ci.TCP, ci.Expires-now, s.state, s.exp)
		}
	}
	if n := ct.Expire(now + int64(to.TCPClose) - 1); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	if n := ct.Expire(now + int64(to.TCPClose)); n != 1 || ct.Len() != 0 {
		t.Fatalf("expired %d, len %d", n, ct.Len())
	}
	if _, ok := ct.Get(h); ok {
		t.Fatal("expired handle still resolves")
	}
}

func TestTCPRstCloses(t *testing.T) {
	bothFamilies(t, testTCPRstCloses[Tuple], testTCPRstCloses[Tuple6])
}

func testTCPRstCloses[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	k := tcpTupleOf[T](0)
	h := handshake(t, ct, k, nil, sec).Handle
	got, ok := ct.Lookup(rev(k), seg(tcpRST, 5001, 0, 0, 0), 2*sec)
	if !ok || got.State != Tracked|Established|ReplyDir {
		t.Fatalf("RST: %v %s", ok, got.State)
	}
	ci, _ := ct.Get(h)
	if ci.TCP != TCPTimeWait || ci.Expires != 2*sec+int64(DefaultTimeouts().TCPClose) {
		t.Fatalf("after RST: %+v", ci)
	}
}

func TestTCPSynReopensClosedConnection(t *testing.T) {
	bothFamilies(t, testTCPSynReopensClosedConnection[Tuple], testTCPSynReopensClosedConnection[Tuple6])
}

func testTCPSynReopensClosedConnection[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	k, r := tcpTupleOf[T](0), rev(tcpTupleOf[T](0))
	old := handshake(t, ct, k, nil, sec).Handle
	ct.Lookup(k, seg(tcpFIN|tcpACK, 1001, 5001, 512, 0), 2*sec)
	ct.Lookup(r, seg(tcpFIN|tcpACK, 5001, 1002, 512, 0), 2*sec)
	ct.Lookup(k, seg(tcpACK, 1002, 5002, 512, 0), 2*sec)
	ct.Lookup(r, seg(tcpACK, 5002, 1002, 512, 0), 2*sec)
	if ci, _ := ct.Get(old); ci.TCP != TCPTimeWait {
		t.Fatalf("not closed: %s", ci.TCP)
	}
	// A SYN before the close timeout replaces the old connection.
	mt := handshake(t, ct, k, nil, 3*sec)
	if mt.Handle == old {
		t.Fatal("reopen reused the old handle")
	}
	if _, ok := ct.Get(old); ok {
		t.Fatal("old connection survived the reopen")
	}
	if ci, _ := ct.Get(mt.Handle); ci.TCP != TCPEstablished || ct.Len() != 1 {
		t.Fatalf("new conn %+v len %d", ci, ct.Len())
	}
	// A SYN on an established connection does not reopen it.
	if got, _ := ct.Lookup(k, seg(tcpSYN, 99999, 0, 100, 0), 4*sec); got.Handle != mt.Handle {
		t.Fatalf("SYN on established conn: %+v", got)
	}
	checkInvariants(t, ct)
}

// ConnInfo.TCP follows the connection through its life as a constant;
// non-TCP connections stay TCPClosed.
func TestTCPStateTyped(t *testing.T) {
	bothFamilies(t, testTCPStateTyped[Tuple], testTCPStateTyped[Tuple6])
}

func testTCPStateTyped[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	k := tcpTupleOf[T](0)
	syn := seg(tcpSYN, 1000, 0, 65535, 0)
	mt, err := ct.Commit(k, syn, sec, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, want TCPState) {
		t.Helper()
		ci, _ := ct.Get(mt.Handle)
		if ci.TCP != want {
			t.Fatalf("%s: TCP %v, want %v", step, ci.TCP, want)
		}
	}
	check("SYN", TCPSynSent)
	ct.Lookup(rev(k), seg(tcpSYN|tcpACK, 5000, 1001, 65535, 0), sec)
	check("SYN+ACK", TCPEstablished) // the responder's SYN_RECV, coalesced
	ct.Lookup(k, seg(tcpACK, 1001, 5001, 512, 0), sec)
	check("ACK", TCPEstablished)
	ct.Lookup(rev(k), seg(tcpRST, 5001, 0, 0, 0), 2*sec)
	check("RST", TCPTimeWait)

	u, err := ct.Commit(udpTupleOf[T](0, 5000), &Meta{Len: 28}, sec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ci, _ := ct.Get(u.Handle); ci.TCP != TCPClosed {
		t.Fatalf("UDP: TCP %v", ci.TCP)
	}
	names := map[TCPState]string{TCPClosed: "CLOSED", TCPSynSent: "SYN_SENT", TCPEstablished: "ESTABLISHED",
		TCPFinWait2: "FIN_WAIT_2", TCPTimeWait: "TIME_WAIT", TCPTimeWait + 1: "UNKNOWN"}
	for s, want := range names {
		if s.String() != want {
			t.Errorf("%d prints %q, want %q", uint8(s), s.String(), want)
		}
	}
}
