package conntrack

import (
	"testing"
	"unsafe"
)

// holdingChooser is snatTo that calls Hold when hold is set, as NAT does
// for a connection that takes an endpoint-independent mapping.
type holdingChooser struct {
	snatTo
	hold bool
}

func (c *holdingChooser) ChooseReply(orig Tuple, taken Taken) (Tuple, bool) {
	r, ok := c.snatTo.ChooseReply(orig, taken)
	if ok && c.hold {
		taken.(Holder).Hold()
	}
	return r, ok
}

// releases records what a Releaser heard.
type releases map[Tuple]bool

func (r releases) Release(orig, _ Tuple, held bool) { r[orig] = held }

// Only a connection whose chooser called Hold is released with held set;
// a later commit without Hold (nor a commit without a chooser) does not
// inherit it, and the flag does not grow the entry.
func TestReleaseHeld(t *testing.T) {
	if n := unsafe.Sizeof(entry[Tuple]{}); n != 112 {
		t.Errorf("entry is %d bytes, want 112 (package doc budget)", n)
	}
	if n := unsafe.Sizeof(entry[Tuple6]{}); n != 160 {
		t.Errorf("IPv6 entry is %d bytes, want 160 (package doc budget)", n)
	}
	tab := newTable(t, Config{Capacity: 16})
	got := releases{}
	tab.SetReleaser(got)
	held := &holdingChooser{snatTo: snatTo{addr: ipSNAT, first: 20000, last: 20010}, hold: true}
	plain := &holdingChooser{snatTo: snatTo{addr: ipSNAT, first: 20000, last: 20010}}
	var hs []Handle
	for i, ch := range []ReplyChooser{held, plain, nil} {
		m, err := tab.Commit(udpTuple(1, uint16(5000+i)), nil, sec, ch)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, m.Handle)
	}
	for _, h := range hs {
		if !tab.Delete(h) {
			t.Fatal("Delete")
		}
	}
	for i, want := range []bool{true, false, false} {
		k := udpTuple(1, uint16(5000+i))
		if h, ok := got[k]; !ok || h != want {
			t.Errorf("connection %d: released %v held %v, want held %v", i, ok, h, want)
		}
	}
}
