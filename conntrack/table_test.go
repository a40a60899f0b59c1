package conntrack

import (
	"errors"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/xgw-dev/xgw/packet"
)

func TestNewTableRejectsBadCapacity(t *testing.T) {
	for _, n := range []int{-1, MaxCapacity + 1} {
		if _, err := NewTable(Config{Capacity: n}); err == nil {
			t.Fatalf("capacity %d accepted", n)
		}
	}
}

func TestFullTableRefusesNewKeepsExisting(t *testing.T) {
	bothFamilies(t, testFullTableRefusesNewKeepsExisting[Tuple], testFullTableRefusesNewKeepsExisting[Tuple6])
}

func testFullTableRefusesNewKeepsExisting[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 4})
	m := &Meta{Len: 60}
	var hs []Handle
	for p := uint16(1); p <= 4; p++ {
		mt, err := ct.Commit(udpTupleOf[T](0, p), m, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, mt.Handle)
	}
	if _, err := ct.Commit(udpTupleOf[T](0, 5), m, sec, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("5th commit: %v", err)
	}
	if s := ct.Stats(); s.FullDrops != 1 || s.Entries != 4 || s.Created != 4 {
		t.Fatalf("stats %+v", s)
	}
	for i, h := range hs {
		got, ok := ct.Lookup(rev(udpTupleOf[T](0, uint16(i+1))), m, 2*sec)
		if !ok || got.Handle != h || got.State != Tracked|Established|ReplyDir {
			t.Fatalf("conn %d while full: %v %+v", i, ok, got)
		}
	}
	// Once connections expire, a commit into the full table reaps them.
	late := 2*sec + int64(DefaultTimeouts().UDPMultiple)
	if _, err := ct.Commit(udpTupleOf[T](0, 5), m, late, nil); err != nil {
		t.Fatalf("commit after expiry: %v", err)
	}
	checkInvariants(t, ct)
}

func TestExpireRemovesExactlyExpired(t *testing.T) {
	bothFamilies(t, testExpireRemovesExactlyExpired[Tuple], testExpireRemovesExactlyExpired[Tuple6])
}

func testExpireRemovesExactlyExpired[T tupleKey](t *testing.T) {
	to := DefaultTimeouts()
	ct := newTab[T](t, Config{Capacity: 64})
	m := &Meta{Len: 60}
	udp := func(p uint16) Handle {
		mt, err := ct.Commit(udpTupleOf[T](0, p), m, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		return mt.Handle
	}
	idle, refreshed, replied := udp(1), udp(2), udp(3)
	tcp := handshake(t, ct, tcpTupleOf[T](0), nil, 0).Handle
	ct.Lookup(udpTupleOf[T](0, 2), m, 50*sec)      // UDP single: 60 s from 50 s
	ct.Lookup(rev(udpTupleOf[T](0, 3)), m, 10*sec) // UDP multiple: 30 s from 10 s

	check := func(now int64, want int, alive ...Handle) {
		t.Helper()
		if n := ct.Expire(now); n != want {
			t.Fatalf("Expire(%ds) = %d, want %d", now/sec, n, want)
		}
		for _, h := range alive {
			if _, ok := ct.Get(h); !ok {
				t.Fatalf("Expire(%ds) removed %d", now/sec, h)
			}
		}
		checkInvariants(t, ct)
	}
	check(40*sec-1, 0, idle, refreshed, replied, tcp)
	check(40*sec, 1, idle, refreshed, tcp) // replied: 10 s + 30 s
	if _, ok := ct.Get(replied); ok {
		t.Fatal("replied conn survived")
	}
	check(int64(to.UDPFirst), 1, refreshed, tcp) // idle: 0 + 60 s
	check(110*sec, 1, tcp)                       // refreshed: 50 + 60 s
	check(int64(to.TCPEstablished)-1, 0, tcp)
	check(int64(to.TCPEstablished), 1)
	if s := ct.Stats(); s.Expired != 4 || s.Entries != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Expire must cost O(expired): a big idle table adds nothing to its work.
func TestExpireCostIndependentOfIdleConns(t *testing.T) {
	bothFamilies(t, testExpireCostIndependentOfIdleConns[Tuple], testExpireCostIndependentOfIdleConns[Tuple6])
}

func testExpireCostIndependentOfIdleConns[T tupleKey](t *testing.T) {
	const idle, doomed = 20000, 10
	ct := newTab[T](t, Config{Capacity: idle + doomed, Timeouts: Timeouts{ICMPFirst: 5 * time.Second}})
	m := &Meta{Len: 60}
	for i := 0; i < idle; i++ {
		if _, err := ct.Commit(udpTupleOf[T](uint16(i>>16), uint16(i)), m, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	echo, _, _ := icmpTypes[T]()
	for i := 0; i < doomed; i++ {
		if _, err := ct.Commit(icmpTupleOf[T](uint16(i)), &Meta{ICMPType: echo}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := ct.scanned()
	if n := ct.Expire(5 * sec); n != doomed {
		t.Fatalf("expired %d", n)
	}
	// One look per removed conn plus one non-expired head per class and
	// shard.
	if work := ct.scanned() - before; work > doomed+uint64(int(numClasses)*len(ct.shards)) {
		t.Fatalf("Expire looked at %d entries to remove %d of %d", work, doomed, idle+doomed)
	}
	if ct.Len() != idle {
		t.Fatalf("len %d", ct.Len())
	}
}

func TestStaleHandleRejected(t *testing.T) {
	bothFamilies(t, testStaleHandleRejected[Tuple], testStaleHandleRejected[Tuple6])
}

func testStaleHandleRejected[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 1})
	m := &Meta{Len: 60}
	a, _ := ct.Commit(udpTupleOf[T](0, 1), m, 0, nil)
	if a.Handle == 0 {
		t.Fatal("zero handle")
	}
	if !ct.Delete(a.Handle) || ct.Delete(a.Handle) {
		t.Fatal("delete twice")
	}
	if _, ok := ct.Get(a.Handle); ok {
		t.Fatal("Get of deleted handle")
	}
	// The only slot is reused; the old handle must not name the new conn.
	b, err := ct.Commit(udpTupleOf[T](0, 2), m, 0, nil)
	if err != nil || b.Handle == a.Handle {
		t.Fatalf("%v %d %d", err, a.Handle, b.Handle)
	}
	if _, ok := ct.Get(a.Handle); ok || ct.Touch(a.Handle, DirOrig, 1, 1, 0) || ct.Delete(a.Handle) || ct.SetMark(a.Handle, 1) {
		t.Fatal("stale handle accepted")
	}
	if _, ok := ct.Get(b.Handle); !ok || ct.Len() != 1 {
		t.Fatal("new conn lost")
	}
	if _, ok := ct.Get(0); ok {
		t.Fatal("handle 0 resolved")
	}
	if s := ct.Stats(); s.Deleted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTouchCreditsAndExtends(t *testing.T) {
	bothFamilies(t, testTouchCreditsAndExtends[Tuple], testTouchCreditsAndExtends[Tuple6])
}

func testTouchCreditsAndExtends[T tupleKey](t *testing.T) {
	to := DefaultTimeouts()
	ct := newTab[T](t, Config{Capacity: 4})
	mt, _ := ct.Commit(udpTupleOf[T](0, 1), &Meta{Len: 100}, 0, nil)
	if !ct.Touch(mt.Handle, DirOrig, 1000, 100000, 20*sec) {
		t.Fatal("touch")
	}
	ci, _ := ct.Get(mt.Handle)
	if ci.Packets[DirOrig] != 1001 || ci.Bytes[DirOrig] != 100100 || ci.State != Tracked|New ||
		ci.Expires != 20*sec+int64(to.UDPSingle) || ci.LastSeen != 20*sec {
		t.Fatalf("%+v", ci)
	}
	// Offloaded reply traffic makes it bidirectional.
	ct.Touch(mt.Handle, DirReply, 5, 500, 30*sec)
	ci, _ = ct.Get(mt.Handle)
	if ci.State != Tracked|Established || ci.Expires != 30*sec+int64(to.UDPMultiple) {
		t.Fatalf("%+v", ci)
	}
	// A stale report never pulls expiry back.
	ct.Touch(mt.Handle, DirReply, 1, 1, 10*sec)
	if ci2, _ := ct.Get(mt.Handle); ci2.Expires != ci.Expires {
		t.Fatalf("expiry moved back: %d", ci2.Expires)
	}
	if !ct.SetMark(mt.Handle, 42) {
		t.Fatal("SetMark")
	}
	if ci, _ := ct.Get(mt.Handle); ci.Mark != 42 {
		t.Fatal("mark")
	}
}

func TestReplyChooserAllocatesAtomically(t *testing.T) {
	bothFamilies(t, testReplyChooserAllocatesAtomically[Tuple], testReplyChooserAllocatesAtomically[Tuple6])
}

func testReplyChooserAllocatesAtomically[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 64})
	snat := &snatTo{addr: ipSNAT, first: 1024, last: 1026}
	ch := chooser[T](snat)
	var replies []Tuple // as IPv4 (unfam)
	for _, src := range []Tuple{
		{Src: ipVM, Dst: ipExt, SrcPort: 1024, DstPort: 80, Proto: packet.ProtoUDP},
		{Src: ipVM2, Dst: ipExt, SrcPort: 1024, DstPort: 80, Proto: packet.ProtoUDP},
		{Src: ipVM2, Dst: ipExt, SrcPort: 5000, DstPort: 80, Proto: packet.ProtoUDP},
	} {
		mt, err := ct.Commit(fam[T](src), &Meta{}, 0, ch)
		if err != nil {
			t.Fatal(err)
		}
		if mt.State != Tracked|New|SrcNAT || unfam(mt.Reply).Dst != ipSNAT {
			t.Fatalf("%+v", mt)
		}
		replies = append(replies, unfam(mt.Reply))
	}
	if replies[0].DstPort != 1024 || replies[1].DstPort != 1025 || replies[2].DstPort != 1026 {
		t.Fatalf("ports %d %d %d", replies[0].DstPort, replies[1].DstPort, replies[2].DstPort)
	}
	if len(snat.seen) != 3 { // 1024 once, then 1024 and 1025
		t.Fatalf("taken checks %v", snat.seen)
	}
	// Ports exhausted.
	_, err := ct.Commit(fam[T](Tuple{Src: ipVM2, Dst: ipExt, SrcPort: 6000, DstPort: 80, Proto: packet.ProtoUDP}), &Meta{}, 0, ch)
	if !errors.Is(err, ErrNoReply) || ct.Stats().NoReplyDrops != 1 {
		t.Fatalf("%v %+v", err, ct.Stats())
	}
	// A chooser cannot hand out a tuple in use.
	bad := chooser[T](chooserFunc(func(o Tuple, _ Taken) (Tuple, bool) { return replies[0], true }))
	if _, err := ct.Commit(fam[T](Tuple{Src: ipVM2, Dst: ipExt, SrcPort: 7000, DstPort: 80, Proto: packet.ProtoUDP}), &Meta{}, 0, bad); !errors.Is(err, ErrNoReply) {
		t.Fatalf("duplicate reply accepted: %v", err)
	}
	checkInvariants(t, ct)
}

type chooserFunc func(Tuple, Taken) (Tuple, bool)

func (f chooserFunc) ChooseReply(o Tuple, t Taken) (Tuple, bool) { return f(o, t) }

// Workers racing to commit through one SNAT address never share a port,
// and a commit that loses the race for the same flow joins the winner.
func TestConcurrentCommitsUniqueReplies(t *testing.T) {
	bothFamilies(t, testConcurrentCommitsUniqueReplies[Tuple], testConcurrentCommitsUniqueReplies[Tuple6])
}

func testConcurrentCommitsUniqueReplies[T tupleKey](t *testing.T) {
	const workers, flows = 4, 500
	ct := newTab[T](t, Config{Capacity: workers * flows})
	var wg sync.WaitGroup
	handles := make([][]Handle, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// The real chooser starts from a hash of the tuple; one that
			// hands out ports in order makes every worker probe the same
			// ports, lose commitTries races and fail with ErrNoReply.
			ch := chooser[T](&hashedSNAT{addr: ipSNAT, first: 1024, last: 65535})
			for i := 0; i < flows; i++ {
				// Workers w and w^1 commit the same flows; all flows share
				// one destination, so their SNAT ports must all differ.
				src := [2]packet.IP4{ipVM, ipVM2}[w/2]
				k := fam[T](Tuple{Src: src, Dst: ipExt, SrcPort: uint16(i), DstPort: 80, Proto: packet.ProtoUDP})
				mt, err := ct.Commit(k, &Meta{}, 0, ch)
				if err != nil {
					t.Error(err)
					return
				}
				ct.Lookup(mt.Reply, &Meta{}, 0)
				handles[w] = append(handles[w], mt.Handle)
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		return // a worker stopped early: its handles are short
	}
	if ct.Len() != workers/2*flows {
		t.Fatalf("len %d", ct.Len())
	}
	for w := 0; w < workers; w += 2 {
		for i := range handles[w] {
			if handles[w][i] != handles[w+1][i] {
				t.Fatalf("flow %d/%d committed twice", w, i)
			}
		}
	}
	ports := map[uint16]bool{}
	ct.Range(func(ci connInfo[T]) bool {
		if ports[tailOf(&ci.Reply).DstPort] {
			t.Fatalf("port %d handed out twice", tailOf(&ci.Reply).DstPort)
		}
		ports[tailOf(&ci.Reply).DstPort] = true
		return true
	})
	checkInvariants(t, ct)
}

func TestLookupHitAllocatesNothing(t *testing.T) {
	bothFamilies(t, testLookupHitAllocatesNothing[Tuple], testLookupHitAllocatesNothing[Tuple6])
}

func testLookupHitAllocatesNothing[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	k := tcpTupleOf[T](0)
	handshake(t, ct, k, nil, 0)
	m := seg(tcpACK, 1001, 5001, 512, 0)
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		now++
		if _, ok := ct.Lookup(k, m, now); !ok {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Fatalf("Lookup hit: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { ct.Lookup(udpTupleOf[T](0, 1), m, now) }); n != 0 {
		t.Fatalf("Lookup miss: %v allocs", n)
	}
}

func TestRangeVisitsAllAndStops(t *testing.T) {
	bothFamilies(t, testRangeVisitsAllAndStops[Tuple], testRangeVisitsAllAndStops[Tuple6])
}

func testRangeVisitsAllAndStops[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 1000})
	for i := 0; i < 600; i++ {
		ct.Commit(udpTupleOf[T](0, uint16(i)), nil, 0, nil)
	}
	for i := 0; i < 600; i += 3 {
		ct.Lookup(udpTupleOf[T](0, uint16(i)), nil, 0)
	}
	seen := map[Handle]bool{}
	ct.Range(func(ci connInfo[T]) bool {
		if seen[ci.Handle] {
			t.Fatalf("visited %d twice", ci.Handle)
		}
		seen[ci.Handle] = true
		ct.Delete(ci.Handle) // callbacks may re-enter the table
		return true
	})
	if len(seen) != 600 || ct.Len() != 0 {
		t.Fatalf("visited %d, left %d", len(seen), ct.Len())
	}
	n := 0
	ct.Commit(udpTupleOf[T](0, 1), nil, 0, nil)
	ct.Commit(udpTupleOf[T](0, 2), nil, 0, nil)
	ct.Range(func(connInfo[T]) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Range did not stop: %d", n)
	}
}

// words must agree with == whatever the blank byte holds.
func TestTupleWordsIgnorePadding(t *testing.T) {
	a := udpTuple(7, 1234)
	b := a
	(*[16]byte)(unsafe.Pointer(&b))[13] = 0xaa
	if a != b || !sameTuple(&a, &b) {
		t.Fatal("padding byte changed equality")
	}
	ct := newTable(t, Config{Capacity: 4})
	if ct.hash(&a) != ct.hash(&b) {
		t.Fatal("padding byte changed the hash")
	}
	for _, c := range []Tuple{
		{Src: ipVM}, {Dst: ipVM}, {SrcPort: 1}, {DstPort: 1}, {Proto: 1}, {Zone: 1},
	} {
		if sameTuple(&c, &Tuple{}) {
			t.Fatalf("%+v equals the zero tuple", c)
		}
	}
}
