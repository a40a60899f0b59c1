package datapath

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/internal/pkttest"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// IPv6 addresses of the tests: the gateway router's join port and the
// distributed router's beside it, a VM, an external server, a NAT66
// address.
var (
	v6Router = packet.MustIP6("fd98::1")
	v6DR     = packet.MustIP6("fd98::2")
	v6DRLL   = packet.MustIP6("fe80::ac03:3ff:fe17:ebdf")
	v6VM     = packet.MustIP6("fd00:10:199::10")
	v6Server = packet.MustIP6("2001:db8:31::6:24")
	v6NAT    = packet.MustIP6("2001:db8:5::7b")
	macGR    = packet.MAC(seedtest.MACGRJoin)
	macDR    = packet.MAC(seedtest.MACDRJoin)
)

func ipOf(a packet.IP6) net.IP { return net.IP(a[:]) }

// v6Ext is an extension header for v6Frame.
type v6Ext = pkttest.Ext

// v6HopByHop is a hop-by-hop options header of 8 bytes, PadN only.
var v6HopByHop = pkttest.HopByHop(1)

// v6FragHdr is a fragment header at offset off (8-byte units).
func v6FragHdr(off uint16, more bool) v6Ext { return pkttest.Fragment(off, more, 0x1234) }

// v6Frame builds Ethernet/IPv6/exts/l4 with gopacket (pkttest.IPv6Frame),
// the l4 layers serialized with their checksum over the pseudo-header of
// src, dst and the upper-layer protocol proto.
func v6Frame(t testing.TB, srcMAC, dstMAC packet.MAC, src, dst packet.IP6, hop uint8, exts []v6Ext, proto layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	return pkttest.IPv6Frame(t, srcMAC[:], dstMAC[:], &layers.IPv6{HopLimit: hop, NextHeader: proto, SrcIP: ipOf(src), DstIP: ipOf(dst)}, exts, l4...)
}

// nsSpec describes a neighbour solicitation for nsFrame.
type nsSpec struct {
	src, dst packet.IP6
	target   packet.IP6
	hop      uint8 // 0: 255
	slla     bool  // a source link-layer address option
	dstMAC   packet.MAC
}

// nsFrame builds the solicitation s describes, from the distributed
// router's MAC.
func nsFrame(t testing.TB, s nsSpec) []byte {
	t.Helper()
	if s.hop == 0 {
		s.hop = 255
	}
	if s.dstMAC == (packet.MAC{}) {
		s.dstMAC = s.dst.MulticastMAC()
		if !s.dst.IsMulticast() {
			s.dstMAC = macGR
		}
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: ipOf(s.target)}
	if s.slla {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macDR[:]}}
	}
	return v6Frame(t, macDR, s.dstMAC, s.src, s.dst, s.hop, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}, ns)
}

// decode6 decodes frame with DecodeDual and fails unless it is OK.
func decode6(t testing.TB, frame []byte) *packet.Parsed {
	t.Helper()
	var p packet.Parsed
	if r := p.DecodeDual(frame); r != packet.OK {
		t.Fatalf("DecodeDual: %v", r)
	}
	return &p
}

// fixICMP6 recomputes the ICMPv6 checksum of frame (no extension headers)
// after a test edited it.
func fixICMP6(frame []byte) {
	ip := packet.IPv6(frame[14:])
	c := packet.ICMPv6(frame[14+40 : 14+40+int(ip.PayloadLength())])
	c.SetChecksum(c.ComputeChecksum(ip.Src(), ip.Dst()))
}

// gopacketICMP6 decodes frame with gopacket and checks its ICMPv6
// checksum by gopacket's own computation: the decoded message is
// serialized again with ComputeChecksums over the decoded IPv6 header,
// and the sums must agree. It returns the decoded packet.
func gopacketICMP6(t *testing.T, frame []byte) (gopacket.Packet, *layers.IPv6, *layers.ICMPv6) {
	t.Helper()
	pk := seedtest.Decode(frame)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	ip, ok1 := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp, ok2 := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if !ok1 || !ok2 {
		t.Fatalf("no IPv6/ICMPv6 in %v", pk)
	}
	again := *icmp
	if err := again.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &again, gopacket.Payload(icmp.Payload)); err != nil {
		t.Fatal(err)
	}
	if want := binary.BigEndian.Uint16(buf.Bytes()[2:]); icmp.Checksum != want {
		t.Fatalf("ICMPv6 checksum %#04x, gopacket computes %#04x", icmp.Checksum, want)
	}
	return pk, ip, icmp
}

// ctx6 is a worker of the seed pipeline and its packet context around
// frame, as the pipeline would hold it (headroom before, tailroom after,
// in a buffer of bufLen; 0: 2048, an AF_XDP frame).
type ctx6 struct {
	h   *harness
	pkt Packet
}

func newCtx6(t testing.TB) *ctx6 {
	t.Helper()
	return &ctx6{h: newHarness(t, seedtest.ConfigPath(), conntrack.Config{})}
}

// load puts frame into the packet and decodes it into the context.
func (x *ctx6) load(t testing.TB, frame []byte, bufLen int) *pktCtx {
	t.Helper()
	if bufLen == 0 {
		bufLen = 2048
	}
	if cap(x.pkt.Buf) < bufLen {
		x.pkt.Buf = make([]byte, bufLen)
	}
	x.pkt.Buf = x.pkt.Buf[:bufLen]
	x.pkt.Off, x.pkt.Len = headroom, len(frame)
	copy(x.pkt.Buf[headroom:], frame)
	c := &x.h.w.ctx
	c.pktState = pktState{pkt: &x.pkt, pl: x.h.pl.plan.Load(), now: x.h.now}
	if r := c.parsed.DecodeDual(x.pkt.Frame()); r != packet.OK && r != packet.Fragment {
		t.Fatalf("DecodeDual: %v", r)
	}
	return c
}
