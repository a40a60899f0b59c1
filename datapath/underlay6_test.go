package datapath

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// vm4 (testdata/dual-stack-v4.yaml) is a dual-stack VM on sw1 hosted by
// node03, whose encap IP is IPv6: all its traffic, IPv4 included, comes
// and goes in Geneve over IPv6.
var (
	d4VM4    = net.IP{10, 199, 100, 40}
	d6VM4MAC = packet.MAC{0, 0, 0x19, 0x91, 0, 0x40}
)

const (
	vm4Key   = 3 // vm4's port key on sw1
	sw1Key   = 9
	drSw1Key = 1 // dr-sw1's port key on sw1
)

// tunnel6 is a frame in Geneve over IPv6 decoded by gopacket: the outer
// IPv6 and UDP, the Geneve header, and the inner Ethernet frame.
type tunnel6 struct {
	ip    *layers.IPv6
	udp   *layers.UDP
	gen   *layers.Geneve
	inner []byte
}

// decodeTunnel6 decodes f with gopacket (not xgw's decoder) as
// Ethernet/IPv6/UDP/Geneve and checks the outer UDP checksum over the
// IPv6 pseudo-header by a naive sum.
func decodeTunnel6(t *testing.T, f []byte) tunnel6 {
	t.Helper()
	pk := seedtest.Decode(f)
	ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	gen, _ := pk.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
	if ip == nil || udp == nil || gen == nil {
		t.Fatalf("not Geneve over IPv6: %v", pk)
	}
	if udp.DstPort != 6081 || udp.Checksum == 0 {
		t.Fatalf("outer UDP to %d checksum %#04x, want 6081 and a checksum (IPv6)", udp.DstPort, udp.Checksum)
	}
	seg := f[packet.EthernetLen+packet.IPv6Len : packet.EthernetLen+packet.IPv6Len+int(ip.Length)]
	ph := make([]byte, 0, 40)
	ph = append(append(ph, ip.SrcIP.To16()...), ip.DstIP.To16()...)
	ph = binary.BigEndian.AppendUint32(ph, uint32(len(seg)))
	ph = binary.BigEndian.AppendUint32(ph, uint32(layers.IPProtocolUDP))
	if s := seedtest.OnesSum(seg, uint32(seedtest.OnesSum(ph, 0))); s != 0xffff {
		t.Fatalf("outer UDP checksum %#04x does not verify (sum %#04x)", udp.Checksum, s)
	}
	return tunnel6{ip: ip, udp: udp, gen: gen, inner: gen.Payload}
}

// ovnOption returns the OVN option's (inport, outport) of g.
func ovnOption(t *testing.T, g *layers.Geneve) (inport, outport uint16) {
	t.Helper()
	for _, o := range g.Options {
		if o.Class == 0x0102 && o.Type == 0x80 && len(o.Data) == 4 {
			v := binary.BigEndian.Uint32(o.Data)
			return uint16(v >> 16), uint16(v)
		}
	}
	t.Fatalf("no OVN option in %+v", g.Options)
	return 0, 0
}

// TestIPv4OverIPv6Underlay: vm4 on node03 (encap IP IPv6) sends IPv4 to
// the server; it leaves SNATed, and the answer goes back to node03 in
// Geneve over IPv6 from the gateway's IPv6 VTEP, decoded by gopacket:
// outer IPv6, VNI of sw1, OVN option dr-sw1 -> vm4, inner IPv4 to vm4
// after both routers' hops, checksums right. The answer is never learnt
// by the flow cache (later answers too go over IPv6) and the connection
// is not planned for offload (flow actions encap over IPv4 only).
func TestIPv4OverIPv6Underlay(t *testing.T) {
	h := newHarness6(t)
	sink := &recordSink{}
	h.pl.sink = sink
	inner := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, d4VM4, seedtest.Server,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40010, DPort: 53, Payload: []byte("query")})
	out := h.run(flow.Underlay, under6(t, inner, d6Node03))
	wantTX(t, out, flow.External)
	var op packet.Parsed
	if r := op.Decode(out.Frame()); r != packet.OK {
		t.Fatalf("egress does not decode: %v", r)
	}
	if op.Src != packet.IP4(seedtest.SNAT.To4()) || op.TTL != 62 {
		t.Fatalf("egress from %v TTL %d, want %v TTL 62", op.Src, op.TTL, seedtest.SNAT)
	}
	seedtest.CheckChecksums(t, out.Frame())

	for i := 0; i < 3; i++ { // the later ones past a flow cache that must not have learnt it
		back := h.run(flow.External, seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, seedtest.SNAT,
			seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: op.SrcPort, TTL: 64, Payload: []byte("answer")}))
		wantTX(t, back, flow.Underlay)
		tu := decodeTunnel6(t, back.Frame())
		if !tu.ip.SrcIP.Equal(net.IP(d6VTEP6[:])) || !tu.ip.DstIP.Equal(net.IP(d6Node03[:])) || tu.ip.NextHeader != layers.IPProtocolUDP {
			t.Fatalf("answer %d outer %v -> %v (%v), want %v -> %v UDP", i, tu.ip.SrcIP, tu.ip.DstIP, tu.ip.NextHeader, d6VTEP6, d6Node03)
		}
		if tu.gen.VNI != sw1Key {
			t.Fatalf("answer %d VNI %d, want sw1's %d", i, tu.gen.VNI, sw1Key)
		}
		if in, o := ovnOption(t, tu.gen); in != drSw1Key || o != vm4Key {
			t.Fatalf("answer %d OVN option %d -> %d, want %d -> %d", i, in, o, drSw1Key, vm4Key)
		}
		ipk := seedtest.Decode(tu.inner)
		eth, _ := ipk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip4, _ := ipk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := ipk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if eth == nil || ip4 == nil || udp == nil {
			t.Fatalf("answer %d inner is not Ethernet/IPv4/UDP: %v", i, ipk)
		}
		if packet.MAC(eth.DstMAC) != d6VM4MAC || eth.SrcMAC.String() != seedtest.MACDRSw1.String() || !ip4.DstIP.Equal(d4VM4) ||
			!ip4.SrcIP.Equal(seedtest.Server) || ip4.TTL != 62 || udp.DstPort != 40010 || string(udp.Payload) != "answer" {
			t.Fatalf("answer %d inner %v -> %v, %v -> %v:%d TTL %d", i, eth.SrcMAC, eth.DstMAC, ip4.SrcIP, ip4.DstIP, udp.DstPort, ip4.TTL)
		}
		seedtest.CheckChecksums(t, tu.inner)
	}
	if len(sink.got) == 0 {
		t.Fatal("no offload candidate reported")
	}
	for _, c := range sink.got {
		if _, _, err := h.pl.PlanFlow(c); !errors.Is(err, ErrPlan) {
			t.Fatalf("PlanFlow(%+v) = %v, want ErrPlan (no IPv6 underlay in flow actions)", c.Key, err)
		}
	}
}

// TestIPv4TimeExceededOverIPv6Underlay: vm4's packet with TTL 1 is
// answered with an ICMP time exceeded, back to node03 over IPv6.
func TestIPv4TimeExceededOverIPv6Underlay(t *testing.T) {
	h := newHarness6(t)
	inner := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, d4VM4, seedtest.Server,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40011, DPort: 53, TTL: 1})
	out := h.run(flow.Underlay, under6(t, inner, d6Node03))
	wantTX(t, out, flow.Underlay)
	tu := decodeTunnel6(t, out.Frame())
	if !tu.ip.DstIP.Equal(net.IP(d6Node03[:])) {
		t.Fatalf("time exceeded to %v, want %v", tu.ip.DstIP, d6Node03)
	}
	icmp, _ := seedtest.Decode(tu.inner).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if icmp == nil || icmp.TypeCode.Type() != layers.ICMPv4TypeTimeExceeded {
		t.Fatalf("inner is not a time exceeded: %v", seedtest.Decode(tu.inner))
	}
	seedtest.CheckChecksums(t, tu.inner)
}

// TestARPOverIPv6Underlay: the distributed router on node03 resolves gr1's
// join address by ARP in Geneve over IPv6; the reply goes back to node03
// over IPv6, outport = the request's inport, as over IPv4 (arp.go).
func TestARPOverIPv6Underlay(t *testing.T) {
	h := newHarness6(t)
	req := seedtest.Serialize(t,
		&layers.Ethernet{SrcMAC: seedtest.MACDRJoin, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: seedtest.MACDRJoin, SourceProtAddress: net.IP{172, 16, 255, 2},
			DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: net.IP{172, 16, 255, 3}})
	out := h.run(flow.Underlay, under6(t, req, d6Node03))
	wantTX(t, out, flow.Underlay)
	if packet.Ethernet(out.Frame()).Dst() != packet.MAC(seedtest.MACHV) {
		t.Fatalf("reply to MAC %v, want the sender's %v", packet.Ethernet(out.Frame()).Dst(), seedtest.MACHV)
	}
	tu := decodeTunnel6(t, out.Frame())
	if !tu.ip.SrcIP.Equal(net.IP(d6VTEP6[:])) || !tu.ip.DstIP.Equal(net.IP(d6Node03[:])) || tu.gen.VNI != 1 {
		t.Fatalf("reply outer %v -> %v VNI %d", tu.ip.SrcIP, tu.ip.DstIP, tu.gen.VNI)
	}
	if in, o := ovnOption(t, tu.gen); in != 2 || o != 1 {
		t.Fatalf("reply OVN option %d -> %d, want gr1-join 2 -> the request's inport 1", in, o)
	}
	arp, _ := gopacket.NewPacket(tu.inner, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeARP).(*layers.ARP)
	if arp == nil || arp.Operation != layers.ARPReply || !net.IP(arp.SourceProtAddress).Equal(net.IP{172, 16, 255, 3}) ||
		net.HardwareAddr(arp.SourceHwAddress).String() != seedtest.MACGRJoin.String() || net.HardwareAddr(arp.DstHwAddress).String() != seedtest.MACDRJoin.String() {
		t.Fatalf("inner is not gr1-join's ARP reply: %+v", arp)
	}
}

// TestFragmentsOverIPv6Underlay: vm4's fragmented IPv4 datagram over the
// IPv6 underlay, last fragment first, goes through the fragment table
// (held, then released by the first) and leaves SNATed, whole.
func TestFragmentsOverIPv6Underlay(t *testing.T) {
	h := newHarness6(t)
	fs := udpFragments(t, seedtest.MACDRJoin, seedtest.MACGRJoin, d4VM4, seedtest.Server, 5001, 7, 0x4343, 3)
	var in [][]byte
	for _, i := range []int{2, 1, 0} {
		in = append(in, under6(t, fs[i], d6Node03))
	}
	out, _ := h.runBatch(flow.Underlay, in...)
	if len(out) != 3 {
		t.Fatalf("%d frames out, want 3; fragments %+v drops %v", len(out), h.pl.Stats().Fragments, h.pl.Stats().Drops)
	}
	ip, udp := defrag(t, out, false)
	if !ip.SrcIP.Equal(seedtest.SNAT) || !ip.DstIP.Equal(seedtest.Server) || udp.DstPort != 7 {
		t.Fatalf("egress %v:%d -> %v:%d, want %v -> %v:7", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, seedtest.SNAT, seedtest.Server)
	}
	if st := h.pl.Stats().Fragments; st.Held != 2 || st.Released != 2 || st.Completed != 1 {
		t.Fatalf("fragment table: held %d released %d completed %d, want 2 2 1", st.Held, st.Released, st.Completed)
	}
}
