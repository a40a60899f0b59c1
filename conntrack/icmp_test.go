package conntrack

import (
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

func icmpTuple(id uint16) Tuple {
	return Tuple{Src: ipVM, Dst: ipExt, SrcPort: id, DstPort: id, Proto: packet.ProtoICMP}
}

func TestICMPEchoByID(t *testing.T) {
	bothFamilies(t, testICMPEchoByID[Tuple], testICMPEchoByID[Tuple6])
}

func testICMPEchoByID[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	echo, reply, unreach := icmpTypes[T]()
	req, rep := &Meta{Len: 84, ICMPType: echo}, &Meta{Len: 84, ICMPType: reply}
	k := icmpTupleOf[T](77)
	if mt, ok := ct.Lookup(rev(k), rep, 0); ok || mt.State != Tracked|Invalid {
		t.Fatalf("lone echo reply: %v %s", ok, mt.State)
	}
	if _, err := ct.Commit(k, &Meta{ICMPType: unreach}, 0, nil); err != ErrInvalid {
		t.Fatalf("unreachable committed: %v", err)
	}
	// The other family's echo request does not start a connection.
	other := uint8(8)
	if !is4[T]() {
		other = packet.ICMPv6EchoRequest
	}
	if _, err := ct.Commit(fam[T](icmpTuple(77)), &Meta{ICMPType: other ^ 136}, 0, nil); err != ErrInvalid {
		t.Fatalf("unreachable committed: %v", err)
	}
	mt, err := ct.Commit(k, req, 0, nil)
	if err != nil || mt.State != Tracked|New {
		t.Fatal(err, mt.State)
	}
	if _, ok := ct.Lookup(rev(icmpTupleOf[T](78)), rep, sec); ok {
		t.Fatal("reply with another id matched")
	}
	got, ok := ct.Lookup(rev(k), rep, sec)
	if !ok || got.State != Tracked|Established|ReplyDir {
		t.Fatalf("echo reply: %v %s", ok, got.State)
	}
	// The peer's own echo request with the same id is not our reply.
	if got, _ := ct.Lookup(rev(k), req, sec); got.State != Tracked|Invalid {
		t.Fatalf("reverse request: %s", got.State)
	}
	ci, _ := ct.Get(mt.Handle)
	if ci.Expires != sec+int64(DefaultTimeouts().ICMPReply) || ci.ICMPType != echo {
		t.Fatalf("%+v", ci)
	}
}

func TestLookupRelated(t *testing.T) {
	bothFamilies(t, testLookupRelated[Tuple], testLookupRelated[Tuple6])
}

func testLookupRelated[T tupleKey](t *testing.T) {
	ct := newTab[T](t, Config{Capacity: 16})
	_, _, unreach := icmpTypes[T]()
	icmpErr := &Meta{Len: 56, ICMPType: unreach}

	// Without NAT: a router on the way to ipExt reports our datagram back.
	plain := handshake(t, ct, tcpTupleOf[T](6), nil, 0)
	got, ok := ct.LookupRelated(tcpTupleOf[T](6), icmpErr, sec)
	if !ok || got.Handle != plain.Handle || got.Dir != DirReply {
		t.Fatalf("plain: %v %+v", ok, got)
	}
	mustState(t, "plain related", got.State, Tracked|Related|ReplyDir)
	// An error about a reply-direction datagram travels orig-wards.
	got, _ = ct.LookupRelated(rev(tcpTupleOf[T](6)), icmpErr, sec)
	if got.Dir != DirOrig || got.State != Tracked|Related {
		t.Fatalf("orig-wards: %+v", got)
	}

	// With SNAT: the error from outside embeds the translated datagram
	// 123.123.123.123:port -> 172.31.6.24:22.
	snat := handshake(t, ct, tcpTupleOf[T](16), chooser[T](&snatTo{addr: ipSNAT, first: 47190, last: 47190}), 0)
	inner := rev(snat.Reply)
	got, ok = ct.LookupRelated(inner, icmpErr, sec)
	if !ok || got.Handle != snat.Handle || got.Dir != DirReply {
		t.Fatalf("snat: %v %+v", ok, got)
	}
	mustState(t, "snat related", got.State, Tracked|Related|ReplyDir|SrcNAT)
	// The pre-NAT datagram matches the orig tuple directly.
	got, _ = ct.LookupRelated(tcpTupleOf[T](16), icmpErr, sec)
	if got.Handle != snat.Handle || got.Dir != DirReply {
		t.Fatalf("pre-NAT inner: %+v", got)
	}

	before, _ := ct.Get(snat.Handle)
	if before.TCP != TCPEstablished || before.Packets[DirReply] != 3 || before.Expires != int64(DefaultTimeouts().TCPEstablished) {
		t.Fatalf("related changed state or expiry, or was not counted: %+v", before)
	}
	if _, ok := ct.LookupRelated(udpTupleOf[T](16, 9), icmpErr, sec); ok {
		t.Fatal("related to nothing matched")
	}
}
