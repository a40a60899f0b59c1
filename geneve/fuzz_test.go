package geneve

import (
	"bytes"
	"testing"
)

// FuzzDecap: no input panics or reads out of bounds; whatever decaps OK
// has consistent offsets and survives re-encapsulation unchanged.
func FuzzDecap(f *testing.F) {
	f.Add(seedFrame(f))
	f.Add(outerFrame(f, true, false, geneveBytes(0, false, true, ProtoEthernet, 9, []tlv{{0x0103, 0x05, []byte{1, 2, 3, 4}}, ovnTLV(2, 5)}), innerFrame(f, 0)))
	f.Add(outerFrame(f, false, true, geneveBytes(0, true, false, ProtoEthernet, 1, nil), innerFrame(f, 0)))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var d Decapped
		r := Decap(frame, &d)
		if r.String() == "unknown" {
			t.Fatalf("result %d has no name", r)
		}
		if r != OK {
			return
		}
		if d.UDPOff < 34 || d.InnerOff < d.UDPOff+16 || d.End-d.InnerOff < 14 || d.End > len(frame) {
			t.Fatalf("offsets %+v for %d bytes", d, len(frame))
		}
		_ = VerifyUDPChecksum(frame, &d)
		if !d.HasOVN || d.InPort > 0x7fff {
			return
		}
		inner := frame[d.InnerOff:d.End]
		p := &EncapParams{Src: d.OuterSrc, Dst: d.OuterDst, SrcMAC: d.OuterSrcMAC, SrcPort: d.SrcPort,
			VNI: d.VNI, InPort: d.InPort, OutPort: d.OutPort, Checksum: true}
		out := encapInto(inner, EncapLen, p)
		var d2 Decapped
		if r := Decap(out, &d2); r != OK {
			t.Fatalf("re-encap decaps as %v", r)
		}
		if d2.VNI != d.VNI || d2.InPort != d.InPort || d2.OutPort != d.OutPort || d2.SrcPort != d.SrcPort ||
			!bytes.Equal(out[d2.InnerOff:d2.End], inner) || !VerifyUDPChecksum(out, &d2) {
			t.Fatalf("round trip: %+v -> %+v", d, d2)
		}
	})
}

// FuzzOptions: the iterator never panics, never overruns, and either
// consumes the area exactly or reports a malformed TLV.
func FuzzOptions(f *testing.F) {
	f.Add([]byte(Header(geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)})).Options()))
	f.Add([]byte(Header(geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{{0, 1, nil}, {0xffff, 0xff, make([]byte, 124)}})).Options()))
	f.Add([]byte{0x01, 0x02, 0x80, 0x02, 0, 1, 0, 2})
	f.Add([]byte{0x01, 0x02, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		it := Options(b).Iter()
		for it.Next() {
			o := it.Option()
			if len(o.Data)%4 != 0 || len(o.Data) > 124 {
				t.Fatalf("data length %d", len(o.Data))
			}
			n += OptionHeaderLen + len(o.Data)
		}
		if n > len(b) || (it.Err() == nil) != (n == len(b)) {
			t.Fatalf("consumed %d of %d, err %v", n, len(b), it.Err())
		}
	})
}
