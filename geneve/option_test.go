package geneve

import (
	"bytes"
	"testing"
)

func TestOptionIter(t *testing.T) {
	b := geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{
		{0x0000, 0x01, nil},
		ovnTLV(0x7fff, 0x8001),
		{0xffff, 0xfe, bytes.Repeat([]byte{0xaa}, 124)}, // longest: 31 words
	})
	// Reserved bits in the length byte are ignored on receipt (§3.5).
	b[8+3] |= 0xe0
	var got []Option
	it := Header(b).Options().Iter()
	for it.Next() {
		got = append(got, it.Option())
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	if len(got) != 3 {
		t.Fatalf("got %d options", len(got))
	}
	if got[0].Class != 0 || got[0].Type != 1 || len(got[0].Data) != 0 || got[0].Critical() {
		t.Errorf("opt0 %+v", got[0])
	}
	if !got[1].IsOVN() || !got[1].Critical() || !bytes.Equal(got[1].Data, []byte{0x7f, 0xff, 0x80, 0x01}) {
		t.Errorf("opt1 %+v", got[1])
	}
	in, out := ParseOVNValue(0x7fff8001)
	if in != 0x7fff || out != 0x8001 {
		t.Errorf("ParseOVNValue: %#x %#x", in, out)
	}
	if got[2].Class != 0xffff || got[2].Type != 0xfe || len(got[2].Data) != 124 || !got[2].Critical() {
		t.Errorf("opt2 class %#x type %#x len %d", got[2].Class, got[2].Type, len(got[2].Data))
	}
	// Data aliases the frame but cannot grow into the next option.
	if cap(got[1].Data) != 4 {
		t.Errorf("cap %d", cap(got[1].Data))
	}
}

func TestOptionIterMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"short header":  {0x01, 0x02, 0x80},
		"length past":   {0x01, 0x02, 0x80, 0x02, 0, 0, 0, 1},
		"trailing junk": {0x01, 0x02, 0x80, 0x01, 0, 1, 0, 2, 0xff},
	} {
		it := Options(b).Iter()
		n := 0
		for it.Next() {
			n++
		}
		if it.Err() != ErrMalformedOption {
			t.Errorf("%s: err %v after %d options", name, it.Err(), n)
		}
		if it.Next() {
			t.Errorf("%s: Next after error", name)
		}
	}
	it := Options(nil).Iter()
	if it.Next() || it.Err() != nil {
		t.Error("empty options")
	}
}

func TestOVNValue(t *testing.T) {
	if v := OVNValue(1, 2); v != 0x00010002 {
		t.Errorf("OVNValue(1,2) = %#x", v)
	}
	// Bit 31 is reserved in OVN's encoding.
	if v := OVNValue(0xffff, 0xffff); v != 0x7fffffff {
		t.Errorf("OVNValue reserved bit: %#x", v)
	}
	if in, _ := ParseOVNValue(0x80010002); in != 1 {
		t.Errorf("ParseOVNValue ignores reserved bit: %#x", in)
	}
}

func TestOptionIterAllocs(t *testing.T) {
	opts := Header(geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{{0x1, 0x1, make([]byte, 8)}, ovnTLV(1, 2)})).Options()
	var sink uint32
	if n := testing.AllocsPerRun(1000, func() {
		for it := opts.Iter(); it.Next(); {
			o := it.Option()
			sink += uint32(o.Class) + uint32(len(o.Data))
		}
	}); n != 0 {
		t.Errorf("iterator allocates %v per run", n)
	}
	_ = sink
}
