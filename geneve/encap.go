package geneve

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/packet"
)

// EncapLen is the bytes Encap prepends: outer Ethernet 14 + IPv4 20 +
// UDP 8 + Geneve 8 + OVN option 8.
const EncapLen = packet.EthernetLen + packet.IPv4MinLen + packet.UDPLen + HeaderLen + ovnTLVLen

const (
	ovnTLVLen = OptionHeaderLen + OVNOptionLen
	offIP     = packet.EthernetLen
	offUDP    = offIP + packet.IPv4MinLen
	offGeneve = offUDP + packet.UDPLen
	offOpt    = offGeneve + HeaderLen

	// DefaultTTL is used when EncapParams.TTL is 0, as Linux tunnels
	// fall back to the route's hop limit rather than send TTL 0.
	DefaultTTL = 64
)

// EncapParams describes the outer headers of one encapsulation.
type EncapParams struct {
	SrcMAC, DstMAC packet.MAC
	Src, Dst       packet.IP4
	TTL            uint8 // 0 means DefaultTTL
	TOS            uint8
	DF             bool
	// ID is the outer IPv4 ID, written as given. With DF set leave it 0
	// (RFC 6864 §4.1: atomic datagrams need no unique ID). Without DF the
	// caller passes a per-queue counter it increments per packet, so
	// fragments of different packets never share an ID.
	ID      uint16
	SrcPort uint16 // entropy for ECMP/RSS underlays, see SourcePort
	VNI     uint32 // low 24 bits used
	// InPort and OutPort are OVN port keys, always emitted as the OVN
	// option; InPort is cut to 15 bits (see OVNValue).
	InPort, OutPort uint16
	// Checksum computes the outer UDP checksum (OVN's csum=true);
	// otherwise it is 0, which RFC 8926 §3.3 allows over IPv4.
	Checksum bool
}

// Encap writes outer Ethernet/IPv4/UDP/Geneve+OVN option into
// buf[off-EncapLen:off], in front of the inner Ethernet frame
// buf[off:off+innerLen], and returns the new start off-EncapLen. The caller
// guarantees off >= EncapLen and off+innerLen <= len(buf); otherwise it
// panics. The header carries the C bit because OVN's option type 0x80 is
// critical (RFC 8926 §3.4), as OVS sets it.
func Encap(buf []byte, off, innerLen int, p *EncapParams) int {
	start := off - EncapLen
	b := buf[start : off+innerLen]
	ulen := len(b) - offUDP

	eth := packet.Ethernet(b)
	eth.SetDst(p.DstMAC)
	eth.SetSrc(p.SrcMAC)
	eth.SetEtherType(packet.EtherTypeIPv4)

	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	packet.IPv4(b[offIP:]).Encode(packet.IPv4Fields{
		TOS:      p.TOS,
		TotalLen: uint16(len(b) - offIP),
		ID:       p.ID,
		DF:       p.DF,
		TTL:      ttl,
		Protocol: packet.ProtoUDP,
		Src:      p.Src,
		Dst:      p.Dst,
	})

	u := packet.UDP(b[offUDP:])
	u.SetSrcPort(p.SrcPort)
	u.SetDstPort(Port)
	u.SetLength(uint16(ulen))
	u.SetChecksum(0)

	Header(b[offGeneve:]).Encode(HeaderFields{
		OptLen:   ovnTLVLen,
		Critical: true,
		Protocol: ProtoEthernet,
		VNI:      p.VNI & 0xffffff,
	})
	putOVNOption(b[offOpt:], p.InPort, p.OutPort)

	if p.Checksum {
		// The headers just written are summed from their values and only
		// the inner frame is read: loads over bytes just stored would wait
		// for the stores to complete.
		c := packet.Checksum(b[offOpt+ovnTLVLen:], packet.PseudoSum(p.Src, p.Dst, packet.ProtoUDP, uint16(ulen))+
			encapSum(p, uint16(ulen)))
		binary.BigEndian.PutUint16(b[offUDP+6:], packet.UDPChecksumFinal(c))
	}
	return start
}

// encapSum is the one's-complement sum of the UDP header (checksum 0),
// Geneve header and OVN option that Encap writes for p, computed from the
// values rather than read back. TestEncapChecksumFromValues holds it to
// a sum over the written bytes.
func encapSum(p *EncapParams, ulen uint16) uint32 {
	vni := p.VNI & 0xffffff
	// Parenthesised: in Go, | and + share a precedence level.
	return uint32(p.SrcPort) + Port + uint32(ulen) +
		((ovnTLVLen/4)<<8 | flagCritical) + ProtoEthernet + vni>>8 + (vni&0xff)<<8 +
		OVNClass + (OVNType<<8 | OVNOptionLen/4) + uint32(p.InPort&0x7fff) + uint32(p.OutPort)
}
