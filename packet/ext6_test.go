package packet

import (
	"testing"

	"github.com/xgw-dev/xgw/internal/pkttest"
)

// chainHdr is one header of a chain FuzzWalkIPv6Ext builds, with what the
// builder knows of it: where it starts and how long it is.
type chainHdr struct {
	ext     pkttest.Ext
	off, n  int
	fragOff uint16 // fragment headers: the offset field (8-byte units)
}

// buildChain turns spec into an IPv6 datagram: each pair of bytes is one
// extension header (kind, size), then upper (an upper-layer protocol)
// and 8 bytes of payload. Kinds: hop-by-hop, destination options (8-32
// bytes), routing (0-2 segments), fragment (offset and M from size), AH
// of (size%6+2)*4 bytes (not always a multiple of 8: refused), and
// destination options of (size+1)*8 bytes (up to 2048: past the bound).
func buildChain(spec []byte, upper uint8) ([]byte, []chainHdr) {
	var hdrs []chainHdr
	off := IPv6Len
	for i := 0; i+1 < len(spec) && len(hdrs) < 2*IPv6MaxExtHeaders; i += 2 {
		n := int(spec[i+1])
		h := chainHdr{off: off}
		switch spec[i] % 6 {
		case 0:
			h.ext = pkttest.HopByHop(n%4 + 1)
		case 1:
			h.ext = pkttest.DstOpts(n%4 + 1)
		case 2:
			h.ext = pkttest.Routing(n % 3)
		case 3:
			h.fragOff = uint16(n >> 1)
			h.ext = pkttest.Fragment(h.fragOff, n&1 == 1, 7)
		case 4:
			h.ext = pkttest.AH(n % 6)
		case 5:
			h.ext = pkttest.DstOpts(n + 1)
		}
		h.n = 2 + len(h.ext.Body)
		off += h.n
		hdrs = append(hdrs, h)
	}
	exts := make([]pkttest.Ext, len(hdrs))
	for i, h := range hdrs {
		exts[i] = h.ext
	}
	first := upper
	if len(hdrs) > 0 {
		first = hdrs[0].ext.Proto
	}
	d := make([]byte, IPv6Len, off+8)
	d[0], d[6], d[7] = 0x60, first, 64
	d = append(d, pkttest.ExtBytes(exts, upper)...)
	d = append(d, 1, 2, 3, 4, 5, 6, 7, 8)
	d[4], d[5] = byte((len(d)-IPv6Len)>>8), byte(len(d)-IPv6Len)
	return d, hdrs
}

// expectWalk is what WalkIPv6Ext must say of d (buildChain's datagram,
// perhaps cut short), from what the builder knows of its headers rather
// than from their bytes: RFC 8200's rules and the bounds, in the order
// the walk meets them.
func expectWalk(d []byte, hdrs []chainHdr, upper uint8) (IPv6Ext, Result) {
	e := IPv6Ext{Proto: upper, Off: IPv6Len}
	if len(hdrs) > 0 {
		e.Proto = hdrs[0].ext.Proto
	}
	for i, h := range hdrs {
		switch {
		case h.ext.Proto == ProtoHopByHop && i != 0:
			return e, ErrIP6HopByHop
		case e.Count == IPv6MaxExtHeaders:
			return e, ErrIP6ExtCount
		case len(d)-h.off < 8:
			return e, ErrIP6ExtShort
		case h.ext.Proto == ProtoFragment && e.FragOff != 0:
			return e, ErrIP6FragDup
		case h.ext.Proto == ProtoAH && h.n%8 != 0:
			return e, ErrIP6AHLen
		case h.off+h.n-IPv6Len > IPv6MaxExtBytes:
			return e, ErrIP6ExtLen
		case h.off+h.n > len(d):
			return e, ErrIP6ExtShort
		}
		if h.ext.Proto == ProtoFragment {
			e.FragOff = h.off
		}
		e.Proto, e.Off = upper, h.off+h.n
		if i+1 < len(hdrs) {
			e.Proto = hdrs[i+1].ext.Proto
		}
		e.Count++
		if h.ext.Proto == ProtoFragment && h.fragOff != 0 {
			return e, OK // a non-first fragment: the rest is data
		}
	}
	return e, OK
}

// FuzzWalkIPv6Ext checks the extension-header walk two ways. Built: spec
// describes a chain (buildChain), cut perhaps truncates it, and the walk
// must find exactly what the builder knows (expectWalk): the upper-layer
// protocol and its offset, the fragment header, the count, or the first
// rule the chain breaks. Raw: spec itself, as a datagram, must never make
// the walk panic or report offsets outside the datagram or the bounds.
func FuzzWalkIPv6Ext(f *testing.F) {
	f.Add([]byte{}, uint8(ProtoUDP), uint16(0))
	f.Add([]byte{0, 0, 1, 1, 2, 1, 1, 3}, uint8(ProtoTCP), uint16(0))
	f.Add([]byte{0, 0, 3, 1}, uint8(ProtoUDP), uint16(0))                                           // first fragment
	f.Add([]byte{3, 10}, uint8(ProtoUDP), uint16(0))                                                // later fragment
	f.Add([]byte{3, 0, 3, 0}, uint8(ProtoUDP), uint16(0))                                           // two fragment headers
	f.Add([]byte{1, 0, 0, 0}, uint8(ProtoUDP), uint16(0))                                           // hop-by-hop second
	f.Add([]byte{4, 1, 4, 2}, uint8(ProtoICMPv6), uint16(0))                                        // AH of 12 and 16 bytes
	f.Add([]byte{5, 70}, uint8(ProtoUDP), uint16(0))                                                // 568 bytes of options
	f.Add([]byte{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}, uint8(ProtoUDP), uint16(0)) // 9 headers
	f.Add([]byte{1, 3, 2, 2}, uint8(ProtoUDP), uint16(70))                                          // cut inside the routing header
	f.Add([]byte{1, 0}, uint8(ProtoNoNext), uint16(45))                                             // cut inside the first header
	f.Fuzz(func(t *testing.T, spec []byte, upper uint8, cut uint16) {
		if IsExtHeader(upper) {
			upper = ProtoUDP
		}
		d, hdrs := buildChain(spec, upper)
		if int(cut) >= IPv6Len && int(cut) < len(d) {
			d = d[:cut]
		}
		got, r := WalkIPv6Ext(d)
		want, wr := expectWalk(d, hdrs, upper)
		if r != wr || (r == OK && got != want) {
			t.Fatalf("walk of %x:\n got %v %+v\nwant %v %+v", d, r, got, wr, want)
		}

		if len(spec) < IPv6Len {
			return
		}
		e, r := WalkIPv6Ext(spec)
		if r.String() == "unknown" {
			t.Fatalf("result %d has no name", r)
		}
		if r != OK {
			return
		}
		if e.Off < IPv6Len || e.Off > len(spec) || e.Off-IPv6Len > IPv6MaxExtBytes || e.Count > IPv6MaxExtHeaders ||
			(e.Count == 0) != (e.Off == IPv6Len) {
			t.Fatalf("raw walk out of bounds: %+v len %d", e, len(spec))
		}
		if e.FragOff != 0 && (e.FragOff < IPv6Len || e.FragOff+IPv6FragmentLen > e.Off) {
			t.Fatalf("raw walk: fragment header at %d outside the chain %+v", e.FragOff, e)
		}
		if IsExtHeader(e.Proto) && (e.FragOff == 0 || IPv6Fragment(spec[e.FragOff:]).FragOffset() == 0) {
			t.Fatalf("raw walk stopped on extension header %d outside a later fragment: %+v", e.Proto, e)
		}
	})
}

// TestWalkIPv6ExtRules: each rule the walk enforces is met by one chain
// buildChain makes, with the result both the walk and expectWalk give.
func TestWalkIPv6ExtRules(t *testing.T) {
	nine := []byte{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}
	for _, c := range []struct {
		name string
		spec []byte
		cut  int
		want Result
		off  int
	}{
		{"none", nil, 0, OK, 40},
		{"hbh, dstopts, routing", []byte{0, 0, 1, 1, 2, 1}, 0, OK, 40 + 8 + 16 + 24},
		{"later fragment stops", []byte{3, 10, 1, 0}, 0, OK, 48},
		{"two fragment headers", []byte{3, 0, 3, 0}, 0, ErrIP6FragDup, 0},
		{"hop-by-hop second", []byte{1, 0, 0, 0}, 0, ErrIP6HopByHop, 0},
		{"AH of 12 bytes", []byte{4, 1}, 0, ErrIP6AHLen, 0},
		{"AH of 16 bytes", []byte{4, 2}, 0, OK, 56},
		{"568 bytes of options", []byte{5, 70}, 0, ErrIP6ExtLen, 0},
		{"nine headers", nine, 0, ErrIP6ExtCount, 0},
		{"cut inside a header", []byte{1, 3, 2, 2}, 70, ErrIP6ExtShort, 0},
		{"cut before a header", []byte{1, 0, 1, 0}, 52, ErrIP6ExtShort, 0},
	} {
		d, hdrs := buildChain(c.spec, ProtoUDP)
		if c.cut != 0 {
			d = d[:c.cut]
		}
		e, r := WalkIPv6Ext(d)
		w, wr := expectWalk(d, hdrs, ProtoUDP)
		if r != c.want || wr != c.want || (r == OK && (e.Off != c.off || e != w)) {
			t.Errorf("%s: walk %v %+v, expectWalk %v %+v, want %v off %d", c.name, r, e, wr, w, c.want, c.off)
		}
	}
}
