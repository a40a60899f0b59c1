package conntrack

import (
	"testing"
	"unsafe"

	"github.com/xgw-dev/xgw/packet"
)

// The table's tests run for both address families: each is written once,
// generic over the tuple type, against IPv4 tuples that fam maps to IPv6
// ones (a.b.c.d becomes fd00::6:a.b.c.d, ICMP becomes ICMPv6) for the
// IPv6 run. unfam maps them back, so that a test's ReplyChooser (written
// for IPv4) serves both tables through chooser.

// bothFamilies runs a test once per address family.
func bothFamilies(t *testing.T, v4 func(*testing.T), v6 func(*testing.T)) {
	t.Run("ipv4", v4)
	t.Run("ipv6", v6)
}

// fam returns the tuple k stands for in family T.
func fam[T tupleKey](k Tuple) T {
	var r T
	if is4[T]() {
		*as4(&r) = k
		return r
	}
	x := as6(&r)
	x.Src, x.Dst = to6(k.Src), to6(k.Dst)
	x.SrcPort, x.DstPort, x.Proto, x.Zone = k.SrcPort, k.DstPort, k.Proto, k.Zone
	if k.Proto == packet.ProtoICMP {
		x.Proto = packet.ProtoICMPv6
	}
	return r
}

// unfam is fam's inverse.
func unfam[T tupleKey](k T) Tuple {
	if is4[T]() {
		return *as4(&k)
	}
	x := as6(&k)
	r := Tuple{SrcPort: x.SrcPort, DstPort: x.DstPort, Proto: x.Proto, Zone: x.Zone}
	copy(r.Src[:], x.Src[12:])
	copy(r.Dst[:], x.Dst[12:])
	if r.Proto == packet.ProtoICMPv6 {
		r.Proto = packet.ProtoICMP
	}
	return r
}

func to6(a packet.IP4) packet.IP6 {
	ip := packet.MustIP6("fd00::6:0:0")
	copy(ip[12:], a[:])
	return ip
}

func rev[T tupleKey](k T) T { return reverseOf(&k) }

func newTab[T tupleKey](tb testing.TB, cfg Config) *table[T] {
	tb.Helper()
	t, err := newTableOf[T](cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func tcpTupleOf[T tupleKey](zone uint16) T        { return fam[T](tcpTuple(zone)) }
func udpTupleOf[T tupleKey](zone, sport uint16) T { return fam[T](udpTuple(zone, sport)) }
func icmpTupleOf[T tupleKey](id uint16) T         { return fam[T](icmpTuple(id)) }

// icmpTypes are the echo request, echo reply and destination unreachable
// types of T's family.
func icmpTypes[T tupleKey]() (echo, reply, unreach uint8) {
	if is4[T]() {
		return 8, 0, 3
	}
	return packet.ICMPv6EchoRequest, packet.ICMPv6EchoRequest + 1, packet.ICMPv6DestUnreachable
}

// chooser makes an IPv4 ReplyChooser serve a table of family T.
func chooser[T tupleKey](c ReplyChooser) replyChooser[T] {
	if c == nil {
		return nil
	}
	if is4[T]() {
		return any(c).(replyChooser[T])
	}
	return any(famChooser{c}).(replyChooser[T])
}

type famChooser struct{ c ReplyChooser }

func (f famChooser) ChooseReply(orig Tuple6, taken Taken6) (Tuple6, bool) {
	r, ok := f.c.ChooseReply(unfam(orig), famTaken{taken})
	return fam[Tuple6](r), ok
}

type famTaken struct{ t Taken6 }

func (f famTaken) Taken(k Tuple) bool { return f.t.Taken(fam[Tuple6](k)) }

func (f famTaken) Hold() {
	if h, ok := f.t.(Holder); ok {
		h.Hold()
	}
}

// The shared tail of both tuple types is where tail says.
func TestTupleTailsShareLayout(t *testing.T) {
	var a Tuple
	var b Tuple6
	for _, c := range []struct{ got, want uintptr }{
		{unsafeOff(&a, &a.SrcPort), unsafeSize(a) - 8}, {unsafeOff(&b, &b.SrcPort), unsafeSize(b) - 8},
		{unsafeOff(&a, &a.Proto), unsafeSize(a) - 4}, {unsafeOff(&b, &b.Proto), unsafeSize(b) - 4},
		{unsafeOff(&a, &a.Zone), unsafeSize(a) - 2}, {unsafeOff(&b, &b.Zone), unsafeSize(b) - 2},
		{unsafeSize(a), 16}, {unsafeSize(b), 40},
	} {
		if c.got != c.want {
			t.Errorf("offset %d, want %d", c.got, c.want)
		}
	}
	k := Tuple6{Src: packet.MustIP6("fd00::1"), Dst: packet.MustIP6("2001:db8::2"), SrcPort: 1, DstPort: 2, Proto: 17, Zone: 9}
	if tl := tailOf(&k); tl.SrcPort != 1 || tl.DstPort != 2 || tl.Proto != 17 || tl.Zone != 9 {
		t.Fatalf("tail %+v", *tl)
	}
	if r := reverseOf(&k); r != k.Reverse() || r.Src != k.Dst || r.SrcPort != 2 {
		t.Fatalf("reverse %v", r)
	}
	if natState(&k, &Tuple6{Src: k.Dst, Dst: k.Src, SrcPort: 2, DstPort: 1, Proto: 17, Zone: 9}) != 0 {
		t.Fatal("untranslated reply has NAT bits")
	}
	r := k.Reverse()
	r.Dst[15]++
	if natState(&k, &r) != uint8(SrcNAT) {
		t.Fatal("translated source not SNAT")
	}
}

func unsafeOff[S any, F any](s *S, f *F) uintptr {
	return uintptr(unsafe.Pointer(f)) - uintptr(unsafe.Pointer(s))
}

func unsafeSize[S any](s S) uintptr         { return unsafe.Sizeof(s) }
func pairTupleOf[T tupleKey](zone uint16) T { return fam[T](pairTuple(zone)) }

// Every byte of a tuple but the blank one takes part in equality (plain
// and atomic, as lock-free probes compare), the hash and, but for the
// zone, the zone-less hash; the blank byte takes part in none.
func TestTupleBytesAllCount(t *testing.T) {
	bothFamilies(t, testTupleBytesAllCount[Tuple], testTupleBytesAllCount[Tuple6])
}

func testTupleBytesAllCount[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 4})
	base := fam[T](udpTuple(7, 1234))
	n := int(unsafe.Sizeof(base))
	for i := 0; i < n; i++ {
		k := base
		(*[40]byte)(unsafe.Pointer(&k))[i] ^= 0x5a
		blank, zone := i == n-3, i >= n-2
		if eq := sameTuple(&k, &base); eq != blank {
			t.Errorf("byte %d: sameTuple %v", i, eq)
		}
		if eq := loadEqual(&k, &base); eq != blank {
			t.Errorf("byte %d: loadEqual %v", i, eq)
		}
		if eq := ct.hash(&k) == ct.hash(&base); eq != blank {
			t.Errorf("byte %d: hash equal %v", i, eq)
		}
		if eq := ct.zhash(&k) == ct.zhash(&base); eq != (blank || zone) {
			t.Errorf("byte %d: zone-less hash equal %v", i, eq)
		}
	}
}

// The generic forms of the per-family helpers, which the table's hot
// paths write out per family (hash4 says why); the tests check
// the helpers through them.

// loadEqual reports whether the slab tuple at e, read with atomic loads
// (a lock-free probe), equals k.
func loadEqual[T tupleKey](e, k *T) bool {
	if is4[T]() {
		ka, kb := words(as4(k))
		ea, eb := loadWords(as4(e))
		return ea == ka && eb == kb
	}
	return loadEqual6(as6(e), as6(k))
}

func (t *table[T]) hash(k *T) uint64 {
	if is4[T]() {
		return hash4(&t.seed, as4(k))
	}
	h, _ := place6(&t.seed, as6(k))
	return h
}

// zhash is the hash of k without its zone. It picks k's region, so that
// a flow's connections in its router's zones, whose orig tuples differ
// only in the zone, share a shard: the flow cache updates both under one
// lock (UpdatePair).
func (t *table[T]) zhash(k *T) uint64 {
	if is4[T]() {
		return zhash4(&t.seed, as4(k))
	}
	return t.zhash6(as6(k))
}

func (t *table[T]) zhash6(k *Tuple6) uint64 {
	_, hz := place6(&t.seed, k)
	return hz
}

// natState is natState4 or natState6 by family.
func natState[T tupleKey](orig, reply *T) uint8 {
	if is4[T]() {
		return natState4(as4(orig), as4(reply))
	}
	return natState6(as6(orig), as6(reply))
}
