// Package frames builds the template frames of the dperf-like generator:
// Geneve-encapsulated UDP exactly as an OVN chassis sends it to the gateway
// (VNI of the join switch, OVN option, inner DR→GR MACs, TTL 63), or plain
// UDP for the Linux peer, which has no kernel Geneve to decapsulate with.
// The generator program (bench/xdpload) then rewrites the source ports per
// flow and stamps a timestamp after the magic.
package frames

import (
	"encoding/binary"
	"fmt"

	"github.com/xgw-dev/xgw/bench/xdpload"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// Inner is the inner (or, for plain frames, the only) packet.
type Inner struct {
	SrcMAC, DstMAC packet.MAC
	Src, Dst       packet.IP4
	SrcPort        uint16 // the first flow's; the generator adds i%flows
	DstPort        uint16
	TTL            uint8 // 63 from a chassis (the DR has routed once)
}

// Outer is the underlay of a Geneve frame.
type Outer struct {
	SrcMAC, DstMAC packet.MAC
	Src, Dst       packet.IP4
	VNI            uint32
	InPort, Out    uint16 // OVN option: inport << 16 | outport
}

// MinFrame is the smallest frame a template can be: headers plus the
// magic and timestamp (the inner frame's minimum for Geneve).
func MinFrame(geneveEncap bool) int {
	if geneveEncap {
		return xdpload.GenevePayloadOff + 16
	}
	return xdpload.PlainPayloadOff + 16
}

// MinSize is the smallest --size (inner frame) the generator accepts.
const MinSize = xdpload.PlainPayloadOff + 16

// Plain builds an Ethernet/IPv4/UDP frame of size bytes (without FCS) whose
// payload starts with the magic. UDP checksum 0: see xdpload.Generator.
func Plain(in Inner, size int) ([]byte, error) {
	if size < MinFrame(false) || size > 9000 {
		return nil, fmt.Errorf("frames: size %d out of range %d..9000", size, MinFrame(false))
	}
	b := make([]byte, size)
	writeUDP(b, in)
	return b, nil
}

// Geneve builds a Geneve frame carrying an inner UDP frame of innerSize
// bytes (what the VM sent; the frame is geneve.EncapLen = 58 bytes more). Outer and inner
// UDP checksums are 0 (RFC 8926 §3.3 allows it over IPv4; OVS and xgw
// accept it), so the generator can rewrite ports without fixing sums.
func Geneve(out Outer, in Inner, innerSize int) ([]byte, error) {
	if innerSize < MinFrame(false) || innerSize > 9000 {
		return nil, fmt.Errorf("frames: inner size %d out of range %d..9000", innerSize, MinFrame(false))
	}
	size := innerSize + geneve.EncapLen
	b := make([]byte, size)
	writeUDP(b[geneve.EncapLen:], in)
	p := geneve.EncapParams{
		SrcMAC: out.SrcMAC, DstMAC: out.DstMAC,
		Src: out.Src, Dst: out.Dst,
		DF:      true,
		SrcPort: geneve.SourcePort(geneve.FlowHash(in.Src, in.Dst, in.SrcPort, in.DstPort, packet.ProtoUDP)),
		VNI:     out.VNI,
		InPort:  out.InPort, OutPort: out.Out,
	}
	geneve.Encap(b, geneve.EncapLen, size-geneve.EncapLen, &p)
	return b, nil
}

func writeUDP(b []byte, in Inner) {
	eth := packet.Ethernet(b)
	eth.SetDst(in.DstMAC)
	eth.SetSrc(in.SrcMAC)
	eth.SetEtherType(packet.EtherTypeIPv4)
	ttl := in.TTL
	if ttl == 0 {
		ttl = 64
	}
	packet.IPv4(b[packet.EthernetLen:]).Encode(packet.IPv4Fields{
		TotalLen: uint16(len(b) - packet.EthernetLen),
		DF:       true,
		TTL:      ttl,
		Protocol: packet.ProtoUDP,
		Src:      in.Src,
		Dst:      in.Dst,
	})
	u := packet.UDP(b[packet.EthernetLen+packet.IPv4MinLen:])
	u.SetSrcPort(in.SrcPort)
	u.SetDstPort(in.DstPort)
	u.SetLength(uint16(len(u)))
	u.SetChecksum(0)
	payload := u[packet.UDPLen:]
	binary.LittleEndian.PutUint64(payload, xdpload.Magic)
	for i := 16; i < len(payload); i++ {
		payload[i] = byte(i) // recognisable filler
	}
}

// Layout gives the generator its offsets for a frame built by Geneve or
// Plain.
func Layout(geneveEncap bool, flows int, basePort uint16) xdpload.GenSpec {
	if geneveEncap {
		return xdpload.GenSpec{Flows: flows, BasePort: basePort,
			SportOff:      geneve.EncapLen + packet.EthernetLen + packet.IPv4MinLen,
			OuterSportOff: packet.EthernetLen + packet.IPv4MinLen,
			PayloadOff:    xdpload.GenevePayloadOff}
	}
	return xdpload.GenSpec{Flows: flows, BasePort: basePort,
		SportOff:   packet.EthernetLen + packet.IPv4MinLen,
		PayloadOff: xdpload.PlainPayloadOff}
}
