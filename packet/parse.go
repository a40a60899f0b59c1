package packet

// Result says what Decode or DecodeDual found. Everything but OK, NotIP
// and Fragment is a malformed frame that the caller drops and counts.
// Values are appended, never renumbered: counters are indexed by them.
type Result uint8

const (
	OK             Result = iota
	NotIP                 // Decode: not IPv4 (ARP, IPv6, LLDP...); DecodeDual: neither IPv4 nor IPv6
	Fragment              // a non-first fragment: no L4 header
	ErrShortL2            // shorter than an Ethernet header
	ErrShortIP            // shorter than the IPv4 header claims
	ErrIPVersion          // version is not 4 (or 6 under EtherType IPv6)
	ErrIPHeaderLen        // IHL < 5
	ErrIPTotalLen         // total length smaller than header or larger than frame (IPv6: payload length past the frame)
	ErrShortL4            // too short for the TCP/UDP/ICMP header
	ErrTCPOffset          // TCP data offset < 5 or beyond the segment
	ErrUDPLength          // UDP length under 8 or past the IP payload (unfragmented)
	// The IPv6 results; WalkIPv6Ext says when each applies.
	ErrIP6ExtShort      // an extension header runs past the datagram
	ErrIP6ExtCount      // more than IPv6MaxExtHeaders extension headers
	ErrIP6ExtLen        // extension headers longer than IPv6MaxExtBytes
	ErrIP6HopByHop      // hop-by-hop header not first (RFC 8200 §4.1)
	ErrIP6FragDup       // two fragment headers
	ErrIP6AHLen         // AH length not a multiple of 8 (RFC 4302 §2.2)
	ErrIP6FragLen       // a fragment with M set whose length is not a multiple of 8 (RFC 8200 §4.5)
	ErrUDP6ZeroChecksum // UDP over IPv6 with checksum 0, forbidden by RFC 8200 §8.1
	numResults
)

var resultNames = [numResults]string{
	"ok", "not-ip", "fragment", "short-l2", "short-ip", "ip-version",
	"ip-header-len", "ip-total-len", "short-l4", "tcp-offset", "udp-length",
	"ip6-ext-short", "ip6-ext-count", "ip6-ext-len", "ip6-hop-by-hop",
	"ip6-frag-dup", "ip6-ah-len", "ip6-frag-len", "udp6-zero-checksum",
}

// NumResults is the number of Result values, for counter arrays.
const NumResults = int(numResults)

func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return "unknown"
}

// Parsed is a decoded frame: offsets into the frame and the fields that
// flow lookup needs. It holds no references to the frame, so a zero-cost
// value can live in a reused batch slot.
type Parsed struct {
	L2
	L4Off int // start of the L4 header (IPv6: after the extension headers)
	End   int // end of the IP datagram; bytes after it are link padding
	// Proto is the upper-layer protocol; for IPv6 the one after the
	// extension headers (or ProtoESP, ProtoNoNext, or in a non-first
	// fragment the fragment header's Next Header).
	Proto uint8
	TTL   uint8 // IPv4 TTL or IPv6 hop limit
	// Family is 4 or 6: which of Src/Dst and Src6/Dst6 hold the
	// addresses. Decode only ever sets 4.
	Family   uint8
	Src, Dst IP4 // IPv4 only
	// Src6 and Dst6 are the IPv6 addresses (Family 6 only).
	Src6, Dst6 IP6
	// FragHdrOff is where the IPv6 fragment header starts in the frame,
	// 0 if there is none (IPv4, or IPv6 unfragmented). An atomic
	// fragment (RFC 6946) has one but Frag false.
	FragHdrOff int
	// SrcPort and DstPort are the TCP/UDP ports. For ICMP and ICMPv6 echo
	// both hold the echo ID, which is how conntrack keys echo "connections".
	SrcPort, DstPort uint16
	TCPFlags         uint8
	ICMPType         uint8 // ICMPv4 or ICMPv6 type, by Family
	ICMPCode         uint8
	Frag             bool // any fragment, first included
}

// Decode parses an IPv4 frame into p. It allocates nothing and never reads
// past len(frame). On any result but OK the fields past the failing layer
// are unspecified. It returns NotIP for IPv6, so that OK still means IPv4
// to every caller; DecodeDual parses both families.
func (p *Parsed) Decode(frame []byte) Result {
	l2, ok := ParseL2(frame)
	if !ok {
		return ErrShortL2
	}
	p.L2 = l2
	if l2.EtherType != EtherTypeIPv4 {
		return NotIP
	}
	if len(frame) < l2.L3Off+IPv4MinLen {
		return ErrShortIP
	}
	ip := IPv4(frame[l2.L3Off:])
	if ip.Version() != 4 {
		return ErrIPVersion
	}
	hl := ip.HeaderLen()
	if hl < IPv4MinLen {
		return ErrIPHeaderLen
	}
	if len(ip) < hl {
		return ErrShortIP
	}
	tl := int(ip.TotalLen())
	if tl < hl || tl > len(ip) {
		return ErrIPTotalLen
	}
	p.End = l2.L3Off + tl
	p.L4Off = l2.L3Off + hl
	p.Family = 4
	p.FragHdrOff = 0
	p.Proto = ip.Protocol()
	p.TTL = ip.TTL()
	p.Src = ip.Src()
	p.Dst = ip.Dst()
	p.Frag = ip.IsFragment()
	p.SrcPort, p.DstPort, p.TCPFlags, p.ICMPType, p.ICMPCode = 0, 0, 0, 0, 0
	if ip.FragOffset() != 0 {
		return Fragment
	}
	l4 := frame[p.L4Off:p.End]
	switch p.Proto {
	case ProtoUDP:
		if len(l4) < UDPLen {
			return ErrShortL4
		}
		u := UDP(l4)
		p.SrcPort, p.DstPort = u.SrcPort(), u.DstPort()
		// A first fragment's UDP length covers the whole datagram.
		if ul := int(u.Length()); !p.Frag && (ul < UDPLen || ul > len(l4)) {
			return ErrUDPLength
		}
	case ProtoTCP:
		if len(l4) < TCPMinLen {
			return ErrShortL4
		}
		t := TCP(l4)
		if off := t.DataOffset(); off < TCPMinLen || off > len(l4) {
			return ErrTCPOffset
		}
		p.SrcPort, p.DstPort = t.SrcPort(), t.DstPort()
		p.TCPFlags = t.Flags()
	case ProtoICMP:
		if len(l4) < ICMPLen {
			return ErrShortL4
		}
		c := ICMPv4(l4)
		p.ICMPType, p.ICMPCode = c.Type(), c.Code()
		if IsEcho(c.Type()) {
			p.SrcPort, p.DstPort = c.ID(), c.ID()
		}
	}
	return OK
}

// IP returns the IPv4 header view of frame (Family 4; IP6 for 6).
func (p *Parsed) IP(frame []byte) IPv4 { return IPv4(frame[p.L3Off:p.L4Off]) }

// L4 returns the transport segment of frame (header and payload, without
// link padding).
func (p *Parsed) L4(frame []byte) []byte { return frame[p.L4Off:p.End] }
