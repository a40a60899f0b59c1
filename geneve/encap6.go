package geneve

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/packet"
)

// EncapLen6 is the bytes Encap6 prepends: outer Ethernet 14 + IPv6 40 +
// UDP 8 + Geneve 8 + OVN option 8.
const EncapLen6 = packet.EthernetLen + packet.IPv6Len + packet.UDPLen + HeaderLen + ovnTLVLen

// Layout of the IPv6 encap template; the IPv4 one is offIP.. in encap.go.
const (
	offUDP6    = offIP + packet.IPv6Len
	offGeneve6 = offUDP6 + packet.UDPLen
	offOpt6    = offGeneve6 + HeaderLen
)

// EncapParams6 describes the outer headers of one encapsulation over an
// IPv6 underlay. It is a type of its own so that EncapParams, which flow
// actions embed in 128-byte cache entries, does not grow by two IPv6
// addresses for every IPv4 flow.
type EncapParams6 struct {
	SrcMAC, DstMAC packet.MAC
	Src, Dst       packet.IP6
	HopLimit       uint8 // 0 means DefaultTTL
	TrafficClass   uint8
	FlowLabel      uint32 // low 20 bits used
	SrcPort        uint16 // entropy, see SourcePort and FlowHash6
	VNI            uint32 // low 24 bits used
	// InPort and OutPort are OVN port keys, as in EncapParams.
	InPort, OutPort uint16
}

// Encap6 is Encap over an IPv6 underlay: it writes outer
// Ethernet/IPv6/UDP/Geneve+OVN option into buf[off-EncapLen6:off] and
// returns the new start, with Encap's header (C bit, OVN option). The
// caller guarantees off >= EncapLen6 and off+innerLen <= len(buf). The
// outer UDP checksum is always computed: RFC 8200 §8.1 forbids a zero one
// unless both ends agreed (RFC 6936), Linux's Geneve sends it by default
// (udp6zerocsumtx off), OVS computes it for IPv6 UDP tunnels unless told
// otherwise, and OVN sets csum=true anyway.
func Encap6(buf []byte, off, innerLen int, p *EncapParams6) int {
	start := off - EncapLen6
	b := buf[start : off+innerLen]
	ulen := len(b) - offUDP6

	eth := packet.Ethernet(b)
	eth.SetDst(p.DstMAC)
	eth.SetSrc(p.SrcMAC)
	eth.SetEtherType(packet.EtherTypeIPv6)

	hl := p.HopLimit
	if hl == 0 {
		hl = DefaultTTL
	}
	packet.IPv6(b[offIP:]).Encode(packet.IPv6Fields{
		TrafficClass:  p.TrafficClass,
		FlowLabel:     p.FlowLabel,
		PayloadLength: uint16(ulen),
		NextHeader:    packet.ProtoUDP,
		HopLimit:      hl,
		Src:           p.Src,
		Dst:           p.Dst,
	})

	u := packet.UDP(b[offUDP6:])
	u.SetSrcPort(p.SrcPort)
	u.SetDstPort(Port)
	u.SetLength(uint16(ulen))
	u.SetChecksum(0)

	Header(b[offGeneve6:]).Encode(HeaderFields{
		OptLen:   ovnTLVLen,
		Critical: true,
		Protocol: ProtoEthernet,
		VNI:      p.VNI & 0xffffff,
	})
	putOVNOption(b[offOpt6:], p.InPort, p.OutPort)

	c := packet.Checksum(b[offUDP6:], packet.PseudoSum6(p.Src, p.Dst, packet.ProtoUDP, uint32(ulen)))
	binary.BigEndian.PutUint16(b[offUDP6+6:], packet.UDPChecksumFinal(c))
	return start
}
