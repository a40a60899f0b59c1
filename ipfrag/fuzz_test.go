package ipfrag

import (
	"testing"
	"time"
)

// FuzzTable drives the table with fragments, first-fragment outcomes,
// releases and expiry decoded from the input, and checks that it never
// panics, never holds more than its bound, and that what it held is
// either released, still held, or counted as dropped.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 185, 1, 2, 185, 0, 3, 0, 0})
	f.Add([]byte{0, 185, 2, 0, 0, 1, 3, 0, 0, 0, 185, 1, 5, 0, 0})
	f.Add([]byte{0, 10, 20, 1, 0, 5, 12, 1, 4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		tb, err := New(Config{MaxDatagrams: 8, MaxFragments: 4, MaxHeld: 3, Timeout: time.Second, MinSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, tb.Config().SlotSize)
		frame := make([]byte, 300)
		var now int64
		var released uint64
		for len(in) >= 3 {
			op, a, b := in[0], in[1], in[2]
			in = in[3:]
			k := k1
			k.ID = uint32(op >> 4 & 3)
			if op&0x40 != 0 { // an IPv6 datagram, its ID past 16 bits
				k.V6, k.ID = true, k.ID<<16|k.ID
			}
			switch op & 7 {
			case 0, 1:
				start, end := int(a)*8, int(a)*8+int(b)*4
				r, _ := tb.Admit(&k, Frag{Start: start, End: end, More: op&1 == 0, IPLen: 20 + end - start}, frame[:b], 1, now)
				if r >= numResults {
					t.Fatalf("result %d", r)
				}
			case 2:
				tb.SetFirst(&k, Info{SrcPort: uint16(a)}, now)
			case 3:
				tb.Fail(&k, now)
			case 4:
				if _, _, _, ok := tb.TakeReady(buf); ok {
					released++
				}
			case 5:
				now += int64(a) * int64(10*time.Millisecond)
				tb.Expire(now)
			}
			s := tb.Stats()
			if s.HeldNow > 3 || s.Datagrams > 8 {
				t.Fatalf("bounds: %+v", s)
			}
		}
		for {
			if _, _, _, ok := tb.TakeReady(buf); !ok {
				break
			}
			released++
		}
		s := tb.Stats()
		if s.Released < released {
			t.Fatalf("took %d, released %d", released, s.Released)
		}
		// Every held fragment is released, still held, or dropped.
		tb.mu.Lock()
		lost := tb.st.heldDropped
		tb.mu.Unlock()
		if s.Held != s.Released+s.HeldNow+lost || s.Timeout > lost {
			t.Fatalf("held %d != released %d + held now %d + dropped %d: %+v", s.Held, s.Released, s.HeldNow, lost, s)
		}
	})
}
