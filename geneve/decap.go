package geneve

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/packet"
)

// Result says what Decap found. Every result but OK means the frame is not
// a tenant frame to forward; String gives a counter label.
type Result uint8

const (
	OK           Result = iota
	NotGeneve           // not IPv4/UDP to Port: not ours, hand it to the stack
	ErrShort            // a header (outer, Geneve or inner Ethernet) is cut off
	ErrOuterIP          // outer IPv4 header invalid: version, IHL, total length or checksum
	ErrFragment         // outer IPv4 fragment: we do not reassemble tunnels
	ErrUDPLen           // UDP length below 8 or past the IP datagram
	ErrVersion          // Geneve version is not 0 (RFC 8926 §3.4)
	ErrOptLen           // Opt Len runs past the UDP payload
	ErrBadOption        // malformed TLV, or a duplicate or wrong-length OVN option
	// ErrCriticalOption is an option we do not understand with its critical
	// bit set: RFC 8926 §3.5 says the packet MUST NOT be processed.
	ErrCriticalOption
	ErrProtocol // payload is not Transparent Ethernet Bridging
	// ErrOAM is a valid OAM packet (O bit, §3.4): Decapped is filled in,
	// but it is control traffic, not data; the caller decides.
	ErrOAM
	numResults
)

var resultNames = [numResults]string{
	"ok", "not-geneve", "short", "outer-ip", "fragment", "udp-len",
	"version", "opt-len", "bad-option", "critical-option", "protocol", "oam",
}

func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return "unknown"
}

// Decapped is what Decap learned from the outer headers. It holds offsets,
// not slices, so it can live in a reused batch slot.
type Decapped struct {
	OuterSrc, OuterDst packet.IP4
	OuterSrcMAC        packet.MAC
	SrcPort            uint16
	VNI                uint32
	HasOVN             bool
	InPort, OutPort    uint16 // from the OVN option
	InnerOff           int    // inner Ethernet frame is frame[InnerOff:End]
	End                int    // end of the outer UDP payload (link padding excluded)
	UDPOff             int    // start of the outer UDP header
	UDPChecksum        uint16 // as received; 0 means the sender sent none
	// IPv6 says the underlay is IPv6 (DecapDual only): the outer
	// addresses are then OuterSrc6 and OuterDst6, and OuterSrc and
	// OuterDst are zero. A bool, not packet.Parsed's Family, so that the
	// zero value Decap writes means IPv4.
	IPv6                 bool
	OuterSrc6, OuterDst6 packet.IP6
}

// Decap parses outer Ethernet (one optional 802.1Q tag), IPv4, UDP and
// Geneve in frame and says where the inner Ethernet frame is. It revalidates
// everything the caller's classifier may have looked at, never reads past
// len(frame) and allocates nothing. It does not verify the outer UDP
// checksum (a full pass over the payload); see VerifyUDPChecksum. On a
// result other than OK or ErrOAM, fields past the failing layer are
// unspecified; on ErrOAM all are set but the inner frame is unchecked.
func Decap(frame []byte, d *Decapped) Result {
	l2, ok := packet.ParseL2(frame)
	if !ok {
		return ErrShort
	}
	if l2.EtherType != packet.EtherTypeIPv4 {
		return NotGeneve
	}
	d.IPv6 = false
	d.OuterSrcMAC = packet.Ethernet(frame).Src()
	if len(frame) < l2.L3Off+packet.IPv4MinLen {
		return ErrShort
	}
	ip := packet.IPv4(frame[l2.L3Off:])
	if ip.Version() != 4 {
		return ErrOuterIP
	}
	hl := ip.HeaderLen()
	if hl < packet.IPv4MinLen {
		return ErrOuterIP
	}
	if len(ip) < hl {
		return ErrShort
	}
	tl := int(ip.TotalLen())
	if tl < hl || tl > len(ip) || !ip.ChecksumValid() {
		return ErrOuterIP
	}
	if ip.Protocol() != packet.ProtoUDP {
		return NotGeneve
	}
	if ip.IsFragment() {
		return ErrFragment
	}
	d.OuterSrc, d.OuterDst = ip.Src(), ip.Dst()
	return d.decapUDP(frame, l2.L3Off+hl, l2.L3Off+tl)
}

// decapUDP is the UDP and Geneve half of Decap and DecapDual, for either
// underlay: the outer UDP header starts at udpOff and the IP datagram
// ends at ipEnd.
func (d *Decapped) decapUDP(frame []byte, udpOff, ipEnd int) Result {
	if ipEnd-udpOff < packet.UDPLen {
		return ErrShort
	}
	u := packet.UDP(frame[udpOff:])
	if u.DstPort() != Port {
		return NotGeneve
	}
	ul := int(u.Length())
	if ul < packet.UDPLen || ul > ipEnd-udpOff {
		return ErrUDPLen
	}
	d.UDPOff = udpOff
	d.SrcPort = u.SrcPort()
	d.UDPChecksum = u.Checksum()
	d.End = udpOff + ul

	gOff := udpOff + packet.UDPLen
	if d.End-gOff < HeaderLen {
		return ErrShort
	}
	h := Header(frame[gOff:d.End])
	if h.Version() != 0 {
		return ErrVersion
	}
	if h.Len() > len(h) {
		return ErrOptLen
	}
	d.VNI = h.VNI()
	d.InnerOff = gOff + h.Len()
	if r := d.readOptions(h.Options()); r != OK {
		return r
	}
	if h.OAM() {
		return ErrOAM
	}
	if h.Protocol() != ProtoEthernet {
		return ErrProtocol
	}
	if d.End-d.InnerOff < packet.EthernetLen {
		return ErrShort
	}
	return OK
}

// readOptions takes the OVN option and enforces RFC 8926 §3.5 on the rest:
// unknown options are skipped unless critical.
func (d *Decapped) readOptions(opts Options) Result {
	d.HasOVN, d.InPort, d.OutPort = false, 0, 0
	it := opts.Iter()
	for it.Next() {
		o := it.Option()
		switch {
		case o.IsOVN():
			// Two OVN options would be two answers to "which port";
			// refuse rather than guess.
			if len(o.Data) != OVNOptionLen || d.HasOVN {
				return ErrBadOption
			}
			d.HasOVN = true
			d.InPort, d.OutPort = ParseOVNValue(binary.BigEndian.Uint32(o.Data))
		case o.Critical():
			return ErrCriticalOption
		}
	}
	if it.Err() != nil {
		return ErrBadOption
	}
	return OK
}

// VerifyUDPChecksum checks the outer UDP checksum of a frame Decap accepted.
// An absent checksum (0) passes: RFC 8926 §3.3 lets IPv4 senders omit it,
// and over IPv6 see DecapDual.
// It costs a pass over the whole datagram, so it is the caller's choice.
func VerifyUDPChecksum(frame []byte, d *Decapped) bool {
	if d.UDPChecksum == 0 {
		return true
	}
	if d.IPv6 {
		return verifyUDPChecksum6(frame, d)
	}
	dgram := frame[d.UDPOff:d.End]
	s := packet.Sum(dgram, packet.PseudoSum(d.OuterSrc, d.OuterDst, packet.ProtoUDP, uint16(len(dgram))))
	return packet.Fold(s) == 0xffff
}
