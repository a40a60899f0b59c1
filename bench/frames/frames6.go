package frames

import (
	"encoding/binary"
	"fmt"

	"github.com/xgw-dev/xgw/bench/xdpload"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// Inner6 is an IPv6 inner packet: the VM's UDP datagram of the IPv6
// one-way scenarios.
type Inner6 struct {
	SrcMAC, DstMAC packet.MAC
	Src, Dst       packet.IP6
	SrcPort        uint16 // the first flow's; the generator adds i%flows
	DstPort        uint16
	HopLimit       uint8 // 63 from a chassis (the DR has routed once)
}

// Outer6 is an IPv6 underlay (the chassis' encap IP is IPv6).
type Outer6 struct {
	SrcMAC, DstMAC packet.MAC
	Src, Dst       packet.IP6
	VNI            uint32
	InPort, Out    uint16
}

// MinSize6 is the smallest inner IPv6 frame the generator accepts:
// headers, magic, timestamp and the checksum compensation word.
const MinSize6 = xdpload.Plain6PayloadOff + xdpload.CompOff + 2

// Geneve6 builds a Geneve frame over the IPv4 underlay carrying an inner
// IPv6/UDP frame of innerSize bytes. The inner UDP checksum is valid (IPv6
// forbids 0) with the timestamp and compensation word zero, which is what
// the generator expects of an IPv6 template (xdpload.GenSpec.IPv6); the
// outer UDP checksum is 0, as in Geneve's IPv4 frames.
func Geneve6(out Outer, in Inner6, innerSize int) ([]byte, error) {
	if innerSize < MinSize6 || innerSize > 9000 {
		return nil, fmt.Errorf("frames: inner IPv6 size %d out of range %d..9000", innerSize, MinSize6)
	}
	b := make([]byte, innerSize+geneve.EncapLen)
	writeUDP6(b[geneve.EncapLen:], in)
	p := geneve.EncapParams{
		SrcMAC: out.SrcMAC, DstMAC: out.DstMAC, Src: out.Src, Dst: out.Dst, DF: true,
		SrcPort: geneve.SourcePort(geneve.FlowHash6(in.Src, in.Dst, in.SrcPort, in.DstPort, packet.ProtoUDP)),
		VNI:     out.VNI, InPort: out.InPort, OutPort: out.Out,
	}
	geneve.Encap(b, geneve.EncapLen, innerSize, &p)
	return b, nil
}

// Geneve6o6 is Geneve6 over the IPv6 underlay. The outer UDP checksum is
// computed (geneve.Encap6: IPv6 forbids 0 there too); the generator keeps
// it valid because the inner datagram's sum does not change and the outer
// source port stays fixed (Layout6).
func Geneve6o6(out Outer6, in Inner6, innerSize int) ([]byte, error) {
	if innerSize < MinSize6 || innerSize > 9000 {
		return nil, fmt.Errorf("frames: inner IPv6 size %d out of range %d..9000", innerSize, MinSize6)
	}
	b := make([]byte, innerSize+geneve.EncapLen6)
	writeUDP6(b[geneve.EncapLen6:], in)
	p := geneve.EncapParams6{
		SrcMAC: out.SrcMAC, DstMAC: out.DstMAC, Src: out.Src, Dst: out.Dst,
		SrcPort: geneve.SourcePort(geneve.FlowHash6(in.Src, in.Dst, in.SrcPort, in.DstPort, packet.ProtoUDP)),
		VNI:     out.VNI, InPort: out.InPort, OutPort: out.Out,
	}
	geneve.Encap6(b, geneve.EncapLen6, innerSize, &p)
	return b, nil
}

func writeUDP6(b []byte, in Inner6) {
	eth := packet.Ethernet(b)
	eth.SetDst(in.DstMAC)
	eth.SetSrc(in.SrcMAC)
	eth.SetEtherType(packet.EtherTypeIPv6)
	hl := in.HopLimit
	if hl == 0 {
		hl = 64
	}
	ulen := len(b) - packet.EthernetLen - packet.IPv6Len
	packet.IPv6(b[packet.EthernetLen:]).Encode(packet.IPv6Fields{
		PayloadLength: uint16(ulen), NextHeader: packet.ProtoUDP, HopLimit: hl, Src: in.Src, Dst: in.Dst,
	})
	u := packet.UDP(b[packet.EthernetLen+packet.IPv6Len:])
	u.SetSrcPort(in.SrcPort)
	u.SetDstPort(in.DstPort)
	u.SetLength(uint16(ulen))
	payload := u[packet.UDPLen:]
	binary.LittleEndian.PutUint64(payload, xdpload.Magic)
	for i := xdpload.CompOff + 2; i < len(payload); i++ {
		payload[i] = byte(i) // recognisable filler
	}
	u.SetChecksum(u.ComputeChecksum6(in.Src, in.Dst))
}

// Layout6 gives the generator its offsets for a frame built by Geneve6
// (underlay6 false) or Geneve6o6. Over the IPv6 underlay the outer source
// port is not rewritten: the outer checksum covers it, and the
// compensation word (inside the inner datagram) can only cancel changes
// inside the inner datagram.
func Layout6(underlay6 bool, flows int, basePort uint16) xdpload.GenSpec {
	if underlay6 {
		return xdpload.GenSpec{Flows: flows, BasePort: basePort, IPv6: true,
			SportOff:   geneve.EncapLen6 + packet.EthernetLen + packet.IPv6Len,
			PayloadOff: xdpload.Geneve6o6PayloadOff}
	}
	return xdpload.GenSpec{Flows: flows, BasePort: basePort, IPv6: true,
		SportOff:      geneve.EncapLen + packet.EthernetLen + packet.IPv6Len,
		OuterSportOff: packet.EthernetLen + packet.IPv4MinLen,
		PayloadOff:    xdpload.Geneve6PayloadOff}
}
