package packet

// Bounds on an IPv6 extension-header chain. RFC 8200 sets none, so a
// parser must (RFC 7112, RFC 8883): past them the chain is a counted drop
// rather than a walk an attacker can make long. Real traffic has at most
// a few small headers; 512 bytes still fits a segment routing header with
// 30 segments. The XDP fast path uses the same bounds for its loop.
const (
	IPv6MaxExtHeaders = 8
	IPv6MaxExtBytes   = 512
)

// IPv6Ext is what WalkIPv6Ext found. Offsets are from the start of the
// IPv6 header.
type IPv6Ext struct {
	// Proto is the protocol after the last extension header: the
	// upper-layer protocol, ProtoESP or ProtoNoNext (which end the walk:
	// what follows is opaque), or, in a non-first fragment, the fragment
	// header's Next Header (the walk stops there: what follows is data).
	Proto uint8
	// Off is where Proto's header starts.
	Off int
	// FragOff is where the fragment header starts, 0 if there is none.
	FragOff int
	// Count is the number of extension headers walked.
	Count int
}

// IsExtHeader reports whether proto is an extension header that
// WalkIPv6Ext steps over (Linux's ipv6_ext_hdr, ESP and No Next Header
// aside, which end a chain).
func IsExtHeader(proto uint8) bool {
	switch proto {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoAH, ProtoDstOpts:
		return true
	}
	return false
}

// WalkIPv6Ext walks the extension headers of datagram d, which holds the
// fixed IPv6 header and exactly its payload (no link padding; the caller
// checked len(d) >= IPv6Len). It allocates nothing and never reads past
// len(d). Hop-by-hop, routing and destination options headers are (n+1)*8
// bytes, AH (n+2)*4 and a multiple of 8 in IPv6 (RFC 4302 §2.2), the
// fragment header 8. Results other than OK:
//
//   - ErrIP6ExtShort: a header runs past the datagram
//   - ErrIP6ExtCount: more than IPv6MaxExtHeaders headers
//   - ErrIP6ExtLen: the headers take more than IPv6MaxExtBytes
//   - ErrIP6HopByHop: hop-by-hop not right after the fixed header (§4.1)
//   - ErrIP6FragDup: a second fragment header
//   - ErrIP6AHLen: an AH length that is not a multiple of 8
func WalkIPv6Ext(d []byte) (IPv6Ext, Result) {
	e := IPv6Ext{Proto: d[6], Off: IPv6Len}
	for IsExtHeader(e.Proto) {
		if e.Proto == ProtoHopByHop && e.Off != IPv6Len {
			return e, ErrIP6HopByHop
		}
		if e.Count == IPv6MaxExtHeaders {
			return e, ErrIP6ExtCount
		}
		if len(d)-e.Off < 8 {
			return e, ErrIP6ExtShort
		}
		var l int
		switch e.Proto {
		case ProtoFragment:
			if e.FragOff != 0 {
				return e, ErrIP6FragDup
			}
			e.FragOff = e.Off
			l = IPv6FragmentLen
		case ProtoAH:
			l = (int(d[e.Off+1]) + 2) * 4
			if l%8 != 0 {
				return e, ErrIP6AHLen
			}
		default:
			l = (int(d[e.Off+1]) + 1) * 8
		}
		if e.Off+l-IPv6Len > IPv6MaxExtBytes {
			return e, ErrIP6ExtLen
		}
		if e.Off+l > len(d) {
			return e, ErrIP6ExtShort
		}
		e.Proto = d[e.Off]
		e.Off += l
		e.Count++
		if e.FragOff == e.Off-l && IPv6Fragment(d[e.FragOff:]).FragOffset() != 0 {
			break // a non-first fragment: the rest is data
		}
	}
	return e, OK
}
