package datapath

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// The seed's addresses (../shared/reference/ovn-issue-207.txt).
var (
	seedVTEP     = net.IP{172, 31, 5, 23}
	seedChassis  = net.IP{172, 31, 1, 21}
	seedVM       = net.IP{10, 199, 100, 10}
	seedServer   = net.IP{172, 31, 6, 24}
	seedSNAT     = net.IP{123, 123, 123, 123}
	seedNextHop  = packet.MustIP4("172.31.5.1")
	macDRJoin    = mustHW("ae:03:03:17:eb:df")
	macGRJoin    = mustHW("ae:cd:cd:04:d7:d4")
	macGRExt     = mustHW("ae:a9:a9:0c:6f:c8")
	macNextHop   = mustHW("88:2a:5e:a9:30:ab")
	macDRSw1     = mustHW("ae:95:95:65:27:a6")
	macVM        = mustHW("00:00:19:91:00:10")
	macHV        = mustHW("02:00:00:00:00:21") // hypervisor underlay NIC
	macGWUnder   = mustHW("02:00:00:00:00:23") // our underlay NIC
	headroom     = 256
	ovnOptionHdr = []byte{0x01, 0x02, 0x80, 0x01} // class 0x0102, type 0x80, len 1 word
)

func mustHW(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// harness is a pipeline over a topology loaded from an example config.
type harness struct {
	t    testing.TB
	topo *route.Topology
	ct   *conntrack.Table
	pl   *Pipeline
	w    *Worker
	now  int64
}

// loadTopology builds the topology of a configuration file.
func loadTopology(t testing.TB, configPath string) *route.Topology {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := route.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func newHarness(t testing.TB, configPath string, ctCfg conntrack.Config) *harness {
	t.Helper()
	topo := loadTopology(t, configPath)
	ct, err := conntrack.NewTable(ctCfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, topo: topo, ct: ct, now: 1_000_000_000}
	neigh := route.StaticNeighbors{
		seedNextHop:                    packet.MAC(macNextHop),
		packet.MustIP4("172.31.1.21"):  packet.MAC(macHV),
		packet.MustIP4("172.31.1.22"):  packet.MAC(macHV),
		packet.MustIP4("198.51.100.2"): packet.MAC(macNextHop),
		packet.MustIP4("192.0.2.2"):    packet.MAC(macHV),
	}
	h.pl, err = New(Config{Topology: topo, Conntrack: ct, Neighbors: neigh,
		UnderlayMAC: packet.MAC(macGWUnder), Clock: func() int64 { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	h.w = h.pl.NewWorker()
	return h
}

// run processes one frame arriving on port and returns the slot.
func (h *harness) run(port flow.Port, frame []byte) Packet {
	buf := make([]byte, headroom+len(frame)+64)
	copy(buf[headroom:], frame)
	b := []Packet{{Buf: buf, Off: headroom, Len: len(frame), InPort: port}}
	h.w.Process(b)
	return b[0]
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// l4 describes the transport part of a test packet.
type l4 struct {
	proto            layers.IPProtocol
	sport, dport     uint16
	syn, ack, fin    bool
	rst              bool
	seq, acknum      uint32
	icmpType, icmpID uint16
	payload          []byte
}

// innerIPv4 builds an Ethernet/IPv4/L4 frame.
func innerIPv4(t testing.TB, src, dst net.HardwareAddr, sip, dip net.IP, ttl uint8, x l4) []byte {
	t.Helper()
	e := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Protocol: x.proto, Flags: layers.IPv4DontFragment, SrcIP: sip, DstIP: dip, Id: 0x1234}
	var ls []gopacket.SerializableLayer
	ls = append(ls, e, ip)
	switch x.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(x.sport), DstPort: layers.TCPPort(x.dport),
			SYN: x.syn, ACK: x.ack, FIN: x.fin, RST: x.rst, Seq: x.seq, Ack: x.acknum, Window: 64240}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(x.sport), DstPort: layers.UDPPort(x.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8(x.icmpType), 0), Id: x.icmpID, Seq: 1})
	}
	ls = append(ls, gopacket.Payload(x.payload))
	f := serialize(t, ls...)
	// Drop the serializer's padding to 60 bytes: a decapsulated inner frame
	// carries none.
	return f[:14+int(binary.BigEndian.Uint16(f[16:]))]
}

// genevePkt wraps inner as OVN would: VNI, option (inport<<16|outport),
// outer UDP checksum. The Geneve header is written by hand so the test does
// not trust our own encoder.
func genevePkt(t testing.TB, srcVTEP, dstVTEP net.IP, vni uint32, inport, outport uint16, inner []byte) []byte {
	t.Helper()
	g := make([]byte, 16)
	g[0] = 2 // version 0, option length 2 words
	binary.BigEndian.PutUint16(g[2:], 0x6558)
	binary.BigEndian.PutUint32(g[4:], vni<<8)
	copy(g[8:], ovnOptionHdr)
	binary.BigEndian.PutUint32(g[12:], uint32(inport)<<16|uint32(outport))
	e := &layers.Ethernet{SrcMAC: macHV, DstMAC: macGWUnder, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment, SrcIP: srcVTEP, DstIP: dstVTEP}
	udp := &layers.UDP{SrcPort: 51234, DstPort: 6081}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, e, ip, udp, gopacket.Payload(append(g, inner...)))
}

// seedEgress is the seed's egress packet: VM → server through GR1.
func seedEgress(t testing.TB, x l4) []byte {
	return genevePkt(t, seedChassis, seedVTEP, 1, 1, 2,
		innerIPv4(t, macDRJoin, macGRJoin, seedVM, seedServer, 63, x))
}

// seedReply is the server's reply to the SNAT address.
func seedReply(t testing.TB, x l4) []byte {
	return innerIPv4(t, macNextHop, macGRExt, seedServer, seedSNAT, 63, x)
}

// checkChecksums decodes frame with gopacket and verifies every IPv4, TCP,
// UDP and ICMP checksum by re-serializing the layer with ComputeChecksums
// and comparing: an independent computation from ours.
func checkChecksums(t testing.TB, frame []byte) {
	t.Helper()
	pk := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	var lastIP *layers.IPv4
	for _, l := range pk.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			lastIP = v
			got := v.Checksum
			buf := gopacket.NewSerializeBuffer()
			c := *v
			c.Options = v.Options
			if err := c.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
				t.Fatal(err)
			}
			if want := binary.BigEndian.Uint16(buf.Bytes()[10:]); got != want {
				t.Errorf("IPv4 %v->%v checksum %#04x, want %#04x", v.SrcIP, v.DstIP, got, want)
			}
		case *layers.TCP:
			// The segment as the IP header delimits it (gopacket's own
			// per-layer payloads are trimmed differently under Geneve).
			if sum := tcpUDPSum(lastIP, lastIP.Payload, nil); sum != 0xffff {
				t.Errorf("TCP checksum %#04x does not verify (sum %#04x)", v.Checksum, sum)
			}
		case *layers.UDP:
			if v.Checksum == 0 {
				continue
			}
			if sum := tcpUDPSum(lastIP, lastIP.Payload, nil); sum != 0xffff {
				t.Errorf("UDP checksum %#04x does not verify (sum %#04x)", v.Checksum, sum)
			}
		case *layers.ICMPv4:
			all := append(append([]byte(nil), v.Contents...), v.Payload...)
			var s uint32
			for i := 0; i+1 < len(all); i += 2 {
				s += uint32(all[i])<<8 | uint32(all[i+1])
			}
			if len(all)%2 == 1 {
				s += uint32(all[len(all)-1]) << 8
			}
			for s>>16 != 0 {
				s = s&0xffff + s>>16
			}
			if s != 0xffff {
				t.Errorf("ICMP checksum does not verify (sum %#04x)", s)
			}
		}
	}
}

// tcpUDPSum is a naive pseudo-header one's-complement sum over a segment;
// 0xffff means the checksum verifies.
func tcpUDPSum(ip *layers.IPv4, hdr, payload []byte) uint16 {
	var b bytes.Buffer
	b.Write(ip.SrcIP.To4())
	b.Write(ip.DstIP.To4())
	seg := append(append([]byte(nil), hdr...), payload...)
	b.Write([]byte{0, byte(ip.Protocol), byte(len(seg) >> 8), byte(len(seg))})
	b.Write(seg)
	d := b.Bytes()
	var s uint32
	for i := 0; i+1 < len(d); i += 2 {
		s += uint32(d[i])<<8 | uint32(d[i+1])
	}
	if len(d)%2 == 1 {
		s += uint32(d[len(d)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func decode(frame []byte) gopacket.Packet {
	return gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
}
