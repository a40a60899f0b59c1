package conntrack

import (
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

func TestPeekChangesNothing(t *testing.T) {
	bothFamilies(t, testPeekChangesNothing[Tuple], testPeekChangesNothing[Tuple6])
}

func testPeekChangesNothing[T tupleKey](t *testing.T) {
	ct, err := newTableOf[T](Config{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	k := fam[T](Tuple{Src: packet.MustIP4("10.0.0.1"), Dst: packet.MustIP4("10.0.0.2"), SrcPort: 1, DstPort: 2, Proto: 17, Zone: 5})
	m := &Meta{Len: 100}
	c, err := ct.Commit(k, m, 1e9, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct.SetMark(c.Handle, 7)
	before, _ := ct.Get(c.Handle)
	p, ok := ct.Peek(rev(k), 2e9)
	if !ok || p.Handle != c.Handle || p.Dir != DirReply || p.Mark != 7 || p.State&ReplyDir == 0 {
		t.Fatalf("Peek: %+v %v", p, ok)
	}
	after, _ := ct.Get(c.Handle)
	if after != before {
		t.Fatalf("Peek changed the connection:\n%+v\n%+v", before, after)
	}
	if _, ok := ct.Peek(k, before.Expires); ok {
		t.Fatal("Peek returned an expired connection")
	}
	if mt, ok := ct.Lookup(k, m, 3e9); !ok || mt.Mark != 7 {
		t.Fatalf("Lookup does not carry the mark: %+v", mt)
	}
}
