package geneve

import (
	"bytes"
	"testing"
)

func TestHeaderAccessors(t *testing.T) {
	b := geneveBytes(0, true, true, ProtoEthernet, 0xabcdef, []tlv{ovnTLV(3, 4), {0xffff, 0x01, make([]byte, 8)}})
	h := Header(b)
	if h.Version() != 0 || !h.OAM() || !h.Critical() || h.Protocol() != ProtoEthernet || h.VNI() != 0xabcdef {
		t.Fatalf("got ver %d oam %v crit %v proto %#x vni %#x", h.Version(), h.OAM(), h.Critical(), h.Protocol(), h.VNI())
	}
	if h.OptLen() != 20 || h.Len() != 28 || len(h.Options()) != 20 {
		t.Fatalf("optlen %d len %d options %d", h.OptLen(), h.Len(), len(h.Options()))
	}
	h = Header(geneveBytes(3, false, false, 0x0800, 1, nil))
	if h.Version() != 3 || h.OAM() || h.Critical() || h.OptLen() != 0 || h.Protocol() != 0x0800 {
		t.Fatalf("flags leaked: %x", []byte(h))
	}
}

func TestHeaderEncode(t *testing.T) {
	for _, f := range []HeaderFields{
		{OptLen: 8, Critical: true, Protocol: ProtoEthernet, VNI: 1},
		{OptLen: MaxOptLen, OAM: true, Protocol: 0x0800, VNI: 0xffffff},
		{},
	} {
		got := make([]byte, HeaderLen)
		for i := range got {
			got[i] = 0xee // reserved bits must be cleared
		}
		Header(got).Encode(f)
		want := geneveBytes(0, f.OAM, f.Critical, f.Protocol, f.VNI, nil)
		want[0] |= byte(f.OptLen / 4)
		if !bytes.Equal(got, want) {
			t.Errorf("%+v: got % x want % x", f, got, want)
		}
	}
}
