package geneve

import (
	"bytes"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/packet"
)

// FuzzDecap6: DecapDual never panics or reads out of bounds; whatever it
// decaps over IPv6 has consistent offsets and survives re-encapsulation
// with Encap6 unchanged; over IPv4 it agrees with Decap.
func FuzzDecap6(f *testing.F) {
	gen := geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)})
	f.Add(seedFrame6(f))
	f.Add(outerFrame6(f, true, false, 0, nil, geneveBytes(0, false, true, ProtoEthernet, 9, []tlv{{0x0103, 0x05, []byte{1, 2, 3, 4}}, ovnTLV(2, 5)}), innerFrame(f, 0)))
	f.Add(outerFrame6(f, false, true, layers.IPProtocolIPv6HopByHop, []byte{17, 0, 1, 4, 0, 0, 0, 0}, gen, innerFrame6(f, 8)))
	f.Add(outerFrame6(f, false, true, layers.IPProtocolIPv6Fragment, []byte{17, 0, 0, 1, 0, 0, 0, 9}, gen, innerFrame6(f, 8)))
	f.Add(seedFrame(f))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var d, d4 Decapped
		r := DecapDual(frame, &d)
		if r.String() == "unknown" {
			t.Fatalf("result %d has no name", r)
		}
		if !d.IPv6 {
			if r4 := Decap(frame, &d4); r4 != r || (r == OK && d4 != d) {
				t.Fatalf("IPv4: Decap %v %+v, DecapDual %v %+v", r4, d4, r, d)
			}
			return
		}
		if r != OK {
			return
		}
		if d.UDPOff < 54 || d.UDPOff > 54+4+packet.IPv6MaxExtBytes || d.InnerOff < d.UDPOff+16 || d.End-d.InnerOff < 14 || d.End > len(frame) {
			t.Fatalf("offsets %+v for %d bytes", d, len(frame))
		}
		_ = VerifyUDPChecksum(frame, &d)
		if !d.HasOVN || d.InPort > 0x7fff {
			return
		}
		inner := frame[d.InnerOff:d.End]
		p := &EncapParams6{Src: d.OuterSrc6, Dst: d.OuterDst6, SrcMAC: d.OuterSrcMAC, SrcPort: d.SrcPort,
			VNI: d.VNI, InPort: d.InPort, OutPort: d.OutPort}
		out := encap6Into(inner, EncapLen6, p)
		var d2 Decapped
		if r := DecapDual(out, &d2); r != OK {
			t.Fatalf("re-encap decaps as %v", r)
		}
		if !d2.IPv6 || d2.VNI != d.VNI || d2.InPort != d.InPort || d2.OutPort != d.OutPort || d2.SrcPort != d.SrcPort ||
			d2.OuterSrc6 != d.OuterSrc6 || !bytes.Equal(out[d2.InnerOff:d2.End], inner) || !VerifyUDPChecksum(out, &d2) {
			t.Fatalf("round trip: %+v -> %+v", d, d2)
		}
	})
}
