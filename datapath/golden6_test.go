package datapath

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// The IPv6 twins of TestSeedGolden, on testdata/dual-stack-v4.yaml: the
// seed's TCP SYN (47190 -> 22, inner hop limit 63 as the distributed
// router sends it) from a VM to the server, and the server's SYN-ACK back,
// for an IPv6 overlay over the IPv4 underlay and over the IPv6 underlay,
// NAT66-ed (sw1, SNAT to 2001:db8:5::100) and routed without NAT (sw2).

// The IPv6 golden cases' other fixtures: vm5 is NAT66-ed like vm1 but on
// node03 (the IPv6 underlay); node02 is on the IPv4 underlay; dr-sw2 is
// the distributed router's port on sw2.
var (
	d6VM5     = packet.MustIP6("fd00:199:100::50")
	d6VM5MAC  = packet.MAC{0, 0, 0x19, 0x91, 0, 0x50}
	d6Node02  = net.IP{172, 31, 1, 22}
	macDRSw2  = seedtest.MustHW("ae:95:95:65:27:a7")
	d6SYN     = seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true, Seq: 1000}
	d6SYNACK  = seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47190, SYN: true, ACK: true, Seq: 5000, AckNum: 1001}
	d6FlowLbl = uint32(0x12345) // seedtest.InnerIPv6's flow label, which routers and NAT66 keep
)

// golden6 is one IPv6 golden case.
type golden6 struct {
	name    string
	vm      packet.IP6
	vmMAC   packet.MAC
	drMAC   net.HardwareAddr // the distributed router's port on the VM's switch
	chassis net.IP           // the VM's chassis: an IPv4 or an IPv6 VTEP
	vni     uint32           // the VM's switch
	opt     uint32           // the reply's OVN option: DR port key << 16 | VM port key
	nat     bool             // NAT66-ed to d6SNAT, or routed
}

var goldens6 = []golden6{
	{"v6-nat66-underlay4", d6VM1, packet.MAC(seedtest.MACVM), seedtest.MACDRSw1, seedtest.Chassis, 9, 0x00010002, true},
	{"v6-routed-underlay4", d6VM2, d6VM2MAC, macDRSw2, d6Node02, 10, 0x00010002, false},
	{"v6-nat66-underlay6", d6VM5, d6VM5MAC, seedtest.MACDRSw1, ipOf(d6Node03), 9, 0x00010004, true},
	{"v6-routed-underlay6", d6VM3, d6VM3MAC, macDRSw2, ipOf(d6Node03), 10, 0x00010003, false},
}

// external is the address the server sees: the NAT66 address, or the
// VM's own when routed.
func (g golden6) external() packet.IP6 {
	if g.nat {
		return d6SNAT
	}
	return g.vm
}

// egress is the SYN as the VM's chassis sends it: Geneve on the join
// switch (VNI 1, ports 1 -> 2) over the chassis' underlay family.
func (g golden6) egress(t testing.TB) []byte {
	inner := seedtest.InnerIPv6(t, seedtest.MACDRJoin, seedtest.MACGRJoin, ipOf(g.vm), ipOf(d6Server), d6SYN)
	if g.chassis.To4() != nil {
		return seedtest.Geneve(t, g.chassis, seedtest.VTEP, 1, 1, 2, inner)
	}
	return seedtest.Geneve6(t, g.chassis, ipOf(d6VTEP6), 1, 1, 2, inner)
}

// TestIPv6Golden pushes each case's SYN out and the SYN-ACK back, checks
// every field of both results decoded by gopacket, compares them byte
// for byte with the golden frames in testdata/golden, and checks the
// conntrack dump against dpctl/dump-conntrack's format.
func TestIPv6Golden(t *testing.T) {
	for _, g := range goldens6 {
		t.Run(g.name, func(t *testing.T) {
			h := newHarness6(t)
			out := h.run(flow.Underlay, g.egress(t))
			if out.Verdict != VerdictTX || out.OutPort != flow.External {
				t.Fatalf("egress verdict %v/%v reason %v, want tx external", out.Verdict, out.OutPort, out.Reason)
			}
			checkEgress6(t, out.Frame(), g.external())
			checkGolden(t, g.name+"-egress", out.Frame())

			back := h.run(flow.External, seedtest.InnerIPv6(t, seedtest.MACNextHop, seedtest.MACGRExt, ipOf(d6Server), ipOf(g.external()), d6SYNACK))
			if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
				t.Fatalf("reply verdict %v/%v reason %v, want tx underlay", back.Verdict, back.OutPort, back.Reason)
			}
			checkGeneve6ToVM(t, back.Frame(), g)
			checkGolden(t, g.name+"-reply", back.Frame())

			s := h.pl.Stats()
			if s.Egress != 1 || s.Ingress != 1 || s.Verdicts[VerdictTX] != 2 || s.Verdicts[VerdictDrop] != 0 || s.ICMPOut != 0 {
				t.Errorf("stats: egress %d ingress %d tx %d drops %d icmp %d, want 1 1 2 0 0",
					s.Egress, s.Ingress, s.Verdicts[VerdictTX], s.Verdicts[VerdictDrop], s.ICMPOut)
			}
			var dump strings.Builder
			if err := h.pl.Conntrack6().Dump(&dump, conntrack.DumpOptions{Zone: -1}); err != nil {
				t.Fatal(err)
			}
			orig := "tcp,orig=(src=" + g.vm.String() + ",dst=2001:db8:31::6:24,sport=47190,dport=22)"
			want := orig + ",reply=(src=2001:db8:31::6:24,dst=" + g.vm.String() + ",sport=22,dport=47190),zone=6\n" +
				orig + ",reply=(src=2001:db8:31::6:24,dst=" + g.external().String() + ",sport=22,dport=47190),zone=16\n"
			if dump.String() != want {
				t.Errorf("conntrack dump:\n%s\nwant:\n%s", dump.String(), want)
			}
			if n := h.ct.Len(); n != 0 {
				t.Errorf("IPv4 conntrack holds %d connections, want 0", n)
			}
		})
	}
}

// layersOf lists the layer types gopacket decoded, and fails on a
// decoding error.
func layersOf(t *testing.T, pk gopacket.Packet) []gopacket.LayerType {
	t.Helper()
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	var ts []gopacket.LayerType
	for _, l := range pk.Layers() {
		ts = append(ts, l.LayerType())
	}
	return ts
}

// checkEgress6 checks the SYN as it leaves the external port: Ethernet
// from gr1's external MAC to the next hop's, IPv6 from src to the server
// with the hop limit decremented once and the flow label kept, the TCP
// segment unchanged but for the checksum (NAT66 keeps the free port).
func checkEgress6(t *testing.T, frame []byte, src packet.IP6) {
	t.Helper()
	pk := seedtest.Decode(frame)
	want := []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeTCP}
	if got := layersOf(t, pk); !slices.Equal(got, want) {
		t.Fatalf("egress layers %v, want %v", got, want)
	}
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !bytes.Equal(eth.SrcMAC, seedtest.MACGRExt) || !bytes.Equal(eth.DstMAC, seedtest.MACNextHop) || eth.EthernetType != layers.EthernetTypeIPv6 {
		t.Errorf("egress eth %v -> %v type %v, want %v -> %v IPv6", eth.SrcMAC, eth.DstMAC, eth.EthernetType, seedtest.MACGRExt, seedtest.MACNextHop)
	}
	if ip.Version != 6 || !ip.SrcIP.Equal(ipOf(src)) || !ip.DstIP.Equal(ipOf(d6Server)) || ip.HopLimit != 62 ||
		ip.NextHeader != layers.IPProtocolTCP || ip.TrafficClass != 0 || ip.FlowLabel != d6FlowLbl {
		t.Errorf("egress ipv6 %v -> %v hop %d next %v tc %#x label %#x, want %v -> %v hop 62 tcp tc 0 label %#x",
			ip.SrcIP, ip.DstIP, ip.HopLimit, ip.NextHeader, ip.TrafficClass, ip.FlowLabel, src, d6Server, d6FlowLbl)
	}
	if int(ip.Length) != len(tcp.Contents)+len(tcp.Payload) || len(frame) != packet.EthernetLen+packet.IPv6Len+int(ip.Length) {
		t.Errorf("egress payload length %d, segment %d, frame %d", ip.Length, len(tcp.Contents)+len(tcp.Payload), len(frame))
	}
	if tcp.SrcPort != 47190 || tcp.DstPort != 22 || !tcp.SYN || tcp.ACK || tcp.Seq != 1000 || tcp.Window != 64240 {
		t.Errorf("egress tcp %d -> %d syn=%v ack=%v seq %d window %d; the free original port must be kept",
			tcp.SrcPort, tcp.DstPort, tcp.SYN, tcp.ACK, tcp.Seq, tcp.Window)
	}
	seedtest.CheckChecksums(t, frame)
}

// checkGeneve6ToVM checks the SYN-ACK as it leaves the underlay port:
// Geneve from the gateway's VTEP of the chassis' family to the chassis,
// outer UDP source port the flow hash of the inner (translated) 5-tuple,
// checksum present, the VM's switch's VNI and one OVN option; inside,
// from the distributed router's port to the VM, the hop limit decremented
// by both routers, the destination translated back to the VM.
func checkGeneve6ToVM(t *testing.T, frame []byte, g golden6) {
	t.Helper()
	pk := seedtest.Decode(frame)
	under := layers.LayerTypeIPv4
	if g.chassis.To4() == nil {
		under = layers.LayerTypeIPv6
	}
	want := []gopacket.LayerType{layers.LayerTypeEthernet, under, layers.LayerTypeUDP, layers.LayerTypeGeneve,
		layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeTCP}
	got := layersOf(t, pk)
	if !slices.Equal(got, want) {
		t.Fatalf("reply layers %v, want %v", got, want)
	}
	ls := pk.Layers()
	outerEth, innerEth := ls[0].(*layers.Ethernet), ls[4].(*layers.Ethernet)
	udp, gen := ls[2].(*layers.UDP), ls[3].(*layers.Geneve)
	ip, tcp := ls[5].(*layers.IPv6), ls[6].(*layers.TCP)

	if !bytes.Equal(outerEth.SrcMAC, seedtest.MACGWUnder) || !bytes.Equal(outerEth.DstMAC, seedtest.MACHV) {
		t.Errorf("outer eth %v -> %v, want %v -> %v", outerEth.SrcMAC, outerEth.DstMAC, seedtest.MACGWUnder, seedtest.MACHV)
	}
	if under == layers.LayerTypeIPv4 {
		o := ls[1].(*layers.IPv4)
		if !o.SrcIP.Equal(seedtest.VTEP) || !o.DstIP.Equal(g.chassis) || o.TTL != 64 || o.Protocol != layers.IPProtocolUDP ||
			o.Flags&layers.IPv4MoreFragments != 0 || o.FragOffset != 0 || int(o.Length) != len(frame)-packet.EthernetLen {
			t.Errorf("outer ipv4 %v -> %v ttl %d proto %v flags %v len %d, want %v -> %v ttl 64 udp, not a fragment",
				o.SrcIP, o.DstIP, o.TTL, o.Protocol, o.Flags, o.Length, seedtest.VTEP, g.chassis)
		}
	} else {
		o := ls[1].(*layers.IPv6)
		if !o.SrcIP.Equal(ipOf(d6VTEP6)) || !o.DstIP.Equal(g.chassis) || o.HopLimit != 64 || o.NextHeader != layers.IPProtocolUDP ||
			int(o.Length) != len(frame)-packet.EthernetLen-packet.IPv6Len {
			t.Errorf("outer ipv6 %v -> %v hop %d next %v len %d, want %v -> %v hop 64 udp",
				o.SrcIP, o.DstIP, o.HopLimit, o.NextHeader, o.Length, d6VTEP6, g.chassis)
		}
	}
	hash := geneve.SourcePort(geneve.FlowHash6(d6Server, g.vm, 22, 47190, packet.ProtoTCP))
	if udp.DstPort != 6081 || uint16(udp.SrcPort) != hash || udp.SrcPort < 49152 {
		t.Errorf("outer UDP %d -> %d, want %d (the inner flow's hash) -> 6081", udp.SrcPort, udp.DstPort, hash)
	}
	if udp.Checksum == 0 {
		t.Errorf("outer UDP checksum missing; the tunnels have csum=true")
	}
	if int(udp.Length) != len(udp.Contents)+len(udp.Payload) {
		t.Errorf("outer UDP length %d, datagram %d", udp.Length, len(udp.Contents)+len(udp.Payload))
	}
	// OVN's option type 0x80 has the critical bit, so C is set (RFC 8926
	// §3.4), as OVS sets it.
	if gen.Version != 0 || gen.OAMPacket || !gen.CriticalOption || gen.Protocol != layers.EthernetTypeTransparentEthernetBridging || gen.VNI != g.vni {
		t.Errorf("Geneve version %d oam %v critical %v protocol %v VNI %d, want 0 false true TEB %d",
			gen.Version, gen.OAMPacket, gen.CriticalOption, gen.Protocol, gen.VNI, g.vni)
	}
	if len(gen.Options) != 1 || gen.Options[0].Class != 0x0102 || gen.Options[0].Type != 0x80 || gen.Options[0].Flags != 0 ||
		len(gen.Options[0].Data) != 4 || binary.BigEndian.Uint32(gen.Options[0].Data) != g.opt {
		t.Errorf("Geneve options %+v, want one OVN option %#08x", gen.Options, g.opt)
	}
	if !bytes.Equal(innerEth.SrcMAC, g.drMAC) || !bytes.Equal(innerEth.DstMAC, g.vmMAC[:]) || innerEth.EthernetType != layers.EthernetTypeIPv6 {
		t.Errorf("inner eth %v -> %v type %v, want %v -> %v IPv6", innerEth.SrcMAC, innerEth.DstMAC, innerEth.EthernetType, g.drMAC, g.vmMAC)
	}
	if !ip.SrcIP.Equal(ipOf(d6Server)) || !ip.DstIP.Equal(ipOf(g.vm)) || ip.HopLimit != 61 ||
		ip.NextHeader != layers.IPProtocolTCP || ip.FlowLabel != d6FlowLbl || int(ip.Length) != len(tcp.Contents)+len(tcp.Payload) {
		t.Errorf("inner ipv6 %v -> %v hop %d next %v label %#x len %d, want %v -> %v hop 61 tcp label %#x",
			ip.SrcIP, ip.DstIP, ip.HopLimit, ip.NextHeader, ip.FlowLabel, ip.Length, d6Server, g.vm, d6FlowLbl)
	}
	if tcp.SrcPort != 22 || tcp.DstPort != 47190 || !tcp.SYN || !tcp.ACK || tcp.Seq != 5000 || tcp.Ack != 1001 {
		t.Errorf("inner tcp %d -> %d syn=%v ack=%v seq %d ack %d, want 22 -> 47190 SYN-ACK 5000/1001",
			tcp.SrcPort, tcp.DstPort, tcp.SYN, tcp.ACK, tcp.Seq, tcp.Ack)
	}
	seedtest.CheckChecksums(t, frame)
}

// TestIPv6GoldenEcho: ping -6 from vm1 through NAT66 over the IPv4
// underlay and its answer back. ICMPv6's checksum covers the IPv6
// pseudo-header (ICMP's does not), so NAT66 must fold the address change
// into it; the identifier, free and in the rule's port range (1024-65535),
// is kept. (One outside the range, such as Linux ping's small ones, is
// allocated from a keyed random start: no golden bytes for that.)
func TestIPv6GoldenEcho(t *testing.T) {
	g := goldens6[0]
	h := newHarness6(t)
	req := seedtest.L4{Proto: layers.IPProtocolICMPv6, ICMPID: 4242, Payload: []byte("ping")}
	inner := seedtest.InnerIPv6(t, seedtest.MACDRJoin, seedtest.MACGRJoin, ipOf(g.vm), ipOf(d6Server), req)
	out := h.run(flow.Underlay, seedtest.Geneve(t, g.chassis, seedtest.VTEP, 1, 1, 2, inner))
	if out.Verdict != VerdictTX || out.OutPort != flow.External {
		t.Fatalf("egress verdict %v/%v reason %v, want tx external", out.Verdict, out.OutPort, out.Reason)
	}
	pk := seedtest.Decode(out.Frame())
	want := []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeICMPv6, layers.LayerTypeICMPv6Echo}
	if got := layersOf(t, pk); !slices.Equal(got, want) {
		t.Fatalf("egress layers %v, want %v", got, want)
	}
	ip := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	echo := pk.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
	if !ip.SrcIP.Equal(ipOf(d6SNAT)) || !ip.DstIP.Equal(ipOf(d6Server)) || ip.HopLimit != 62 || ip.FlowLabel != d6FlowLbl ||
		icmp.TypeCode.Type() != layers.ICMPv6TypeEchoRequest || echo.Identifier != 4242 || echo.SeqNumber != 1 ||
		string(icmp.Payload[4:]) != "ping" { // gopacket's ICMPv6Echo drops the data
		t.Errorf("egress %v -> %v hop %d label %#x type %v id %d seq %d, want %v -> %v hop 62 echo request id 4242 seq 1 'ping'",
			ip.SrcIP, ip.DstIP, ip.HopLimit, ip.FlowLabel, icmp.TypeCode, echo.Identifier, echo.SeqNumber, d6SNAT, d6Server)
	}
	seedtest.CheckChecksums(t, out.Frame())
	checkGolden(t, "v6-echo-nat66-underlay4-egress", out.Frame())

	rep := seedtest.L4{Proto: layers.IPProtocolICMPv6, ICMPType: layers.ICMPv6TypeEchoReply, ICMPID: 4242, Payload: []byte("ping")}
	back := h.run(flow.External, seedtest.InnerIPv6(t, seedtest.MACNextHop, seedtest.MACGRExt, ipOf(d6Server), ipOf(d6SNAT), rep))
	if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
		t.Fatalf("reply verdict %v/%v reason %v, want tx underlay", back.Verdict, back.OutPort, back.Reason)
	}
	pk = seedtest.Decode(back.Frame())
	want = []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeUDP, layers.LayerTypeGeneve,
		layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeICMPv6, layers.LayerTypeICMPv6Echo}
	if got := layersOf(t, pk); !slices.Equal(got, want) {
		t.Fatalf("reply layers %v, want %v", got, want)
	}
	ls := pk.Layers()
	udp, gen := ls[2].(*layers.UDP), ls[3].(*layers.Geneve)
	ip, icmp, echo = ls[5].(*layers.IPv6), ls[6].(*layers.ICMPv6), ls[7].(*layers.ICMPv6Echo)
	// An echo's identifier stands for both ports in the flow hash, as in
	// packet.Parsed.
	hash := geneve.SourcePort(geneve.FlowHash6(d6Server, g.vm, 4242, 4242, packet.ProtoICMPv6))
	if gen.VNI != g.vni || len(gen.Options) != 1 || binary.BigEndian.Uint32(gen.Options[0].Data) != g.opt || udp.Checksum == 0 {
		t.Errorf("Geneve VNI %d options %+v checksum %#04x, want %d, %#08x, present", gen.VNI, gen.Options, udp.Checksum, g.vni, g.opt)
	}
	if udp.DstPort != 6081 || uint16(udp.SrcPort) != hash {
		t.Errorf("outer UDP %d -> %d, want %d (the inner flow's hash) -> 6081", udp.SrcPort, udp.DstPort, hash)
	}
	if !ip.SrcIP.Equal(ipOf(d6Server)) || !ip.DstIP.Equal(ipOf(g.vm)) || ip.HopLimit != 61 ||
		icmp.TypeCode.Type() != layers.ICMPv6TypeEchoReply || echo.Identifier != 4242 || echo.SeqNumber != 1 {
		t.Errorf("reply %v -> %v hop %d type %v id %d seq %d, want %v -> %v hop 61 echo reply id 4242 seq 1",
			ip.SrcIP, ip.DstIP, ip.HopLimit, icmp.TypeCode, echo.Identifier, echo.SeqNumber, d6Server, g.vm)
	}
	seedtest.CheckChecksums(t, back.Frame())
	checkGolden(t, "v6-echo-nat66-underlay4-reply", back.Frame())
}
