package bpf

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// The seed's addresses, as in datapath's golden tests
// (examples/seed.yaml).
var (
	seedVTEP    = net.IP{172, 31, 5, 23}
	seedChassis = net.IP{172, 31, 1, 21}
	seedVM      = net.IP{10, 199, 100, 10}
	seedServer  = net.IP{172, 31, 6, 24}
	seedSNAT    = net.IP{123, 123, 123, 123}
	macDRJoin   = mustHW("ae:03:03:17:eb:df")
	macGRJoin   = mustHW("ae:cd:cd:04:d7:d4")
	macGRExt    = mustHW("ae:a9:a9:0c:6f:c8")
	macNextHop  = mustHW("88:2a:5e:a9:30:ab")
	macHV       = mustHW("02:00:00:00:00:21")
	macGWUnder  = mustHW("02:00:00:00:00:23")
)

const seedConfig = "../examples/seed.yaml"

func mustHW(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// candSink keeps the pipeline's offload candidates.
type candSink struct{ got []flow.Candidate }

func (s *candSink) Candidates(c []flow.Candidate) { s.got = append(s.got, c...) }

func (s *candSink) Withdraw(conntrack.Handle) {}

// pipe is the software pipeline over the seed: the reference the fast
// path must equal byte for byte.
type pipe struct {
	t    testing.TB
	pl   *datapath.Pipeline
	w    *datapath.Worker
	sink *candSink
	now  int64
}

func newPipe(t testing.TB, geneveChecksum bool) *pipe {
	t.Helper()
	cfg, err := config.Load(seedConfig)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := route.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	topo.GeneveChecksum = geneveChecksum
	ct, err := conntrack.NewTable(conntrack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := &pipe{t: t, sink: &candSink{}, now: 1_000_000_000}
	neigh := route.StaticNeighbors{
		packet.MustIP4("172.31.5.1"):  packet.MAC(macNextHop),
		packet.MustIP4("172.31.1.21"): packet.MAC(macHV),
	}
	p.pl, err = datapath.New(datapath.Config{Topology: topo, Conntrack: ct, Neighbors: neigh,
		UnderlayMAC: packet.MAC(macGWUnder), Clock: func() int64 { return p.now }, Offload: p.sink})
	if err != nil {
		t.Fatal(err)
	}
	p.w = p.pl.NewWorker()
	return p
}

// run processes one frame and returns the output frame and verdict.
func (p *pipe) run(port flow.Port, frame []byte) datapath.Packet {
	const headroom = 256
	buf := make([]byte, headroom+len(frame)+64)
	copy(buf[headroom:], frame)
	b := []datapath.Packet{{Buf: buf, Off: headroom, Len: len(frame), InPort: port}}
	p.w.Process(b)
	return b[0]
}

// mustTX runs frame and fails unless the pipeline transmits it on out.
func (p *pipe) mustTX(port, out flow.Port, frame []byte) []byte {
	p.t.Helper()
	r := p.run(port, frame)
	if r.Verdict != datapath.VerdictTX || r.OutPort != out {
		p.t.Fatalf("pipeline: verdict %v out %v reason %v, want tx %v", r.Verdict, r.OutPort, r.Reason, out)
	}
	return append([]byte(nil), r.Frame()...)
}

// establish sends an egress packet and its reply through the pipeline
// and plans the connection: fwd is egress (underlay -> external), rev
// ingress.
// The reply is addressed to the egress output's (NATed) port or echo id.
func (p *pipe) establish(eg []byte, reply l4) (fwd, rev flow.Action) {
	p.t.Helper()
	p.sink.got = nil
	out := p.mustTX(flow.Underlay, flow.External, eg)
	p.mustTX(flow.External, flow.Underlay, seedReply(p.t, toNAT(reply, out)))
	if len(p.sink.got) == 0 {
		p.t.Fatal("the pipeline reported no offload candidate")
	}
	fwd, rev, err := p.pl.PlanFlow(p.sink.got[0])
	if err != nil {
		p.t.Fatal(err)
	}
	return fwd, rev
}

// l4 describes the transport part of a test packet.
type l4 struct {
	proto         layers.IPProtocol
	sport, dport  uint16
	syn, ack, fin bool
	rst           bool
	seq, acknum   uint32
	icmpType      uint8
	icmpID        uint16
	payload       []byte
	ttl           uint8 // 0: 63
	noUDPCsum     bool
}

// innerIPv4 builds Ethernet/IPv4/L4 without link padding.
func innerIPv4(t testing.TB, src, dst net.HardwareAddr, sip, dip net.IP, x l4) []byte {
	t.Helper()
	ttl := x.ttl
	if ttl == 0 {
		ttl = 63
	}
	e := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Protocol: x.proto, Flags: layers.IPv4DontFragment, SrcIP: sip, DstIP: dip, Id: 0x1234}
	ls := []gopacket.SerializableLayer{e, ip}
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
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(x.icmpType, 0), Id: x.icmpID, Seq: 1})
	}
	ls = append(ls, gopacket.Payload(x.payload))
	f := append([]byte(nil), serialize(t, ls...)...)
	f = f[:14+int(binary.BigEndian.Uint16(f[16:]))]
	if x.proto == layers.IPProtocolUDP && x.noUDPCsum {
		f[14+20+6], f[14+20+7] = 0, 0
	}
	return f
}

// genevePkt wraps inner as OVN would (VNI, one OVN option, outer UDP
// checksum); extra options go before the OVN option.
func genevePkt(t testing.TB, vni uint32, inport, outport uint16, inner []byte, extra ...[]byte) []byte {
	t.Helper()
	var opts []byte
	for _, o := range extra {
		opts = append(opts, o...)
	}
	opts = append(opts, 0x01, 0x02, 0x80, 0x01, byte(inport>>8), byte(inport), byte(outport>>8), byte(outport))
	g := make([]byte, 8, 8+len(opts)+len(inner))
	g[0] = byte(len(opts) / 4)
	binary.BigEndian.PutUint16(g[2:], 0x6558)
	binary.BigEndian.PutUint32(g[4:], vni<<8)
	g = append(append(g, opts...), inner...)
	e := &layers.Ethernet{SrcMAC: macHV, DstMAC: macGWUnder, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment, SrcIP: seedChassis, DstIP: seedVTEP}
	udp := &layers.UDP{SrcPort: 51234, DstPort: 6081}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, e, ip, udp, gopacket.Payload(g))
}

// seedEgress is VM -> server through the join switch (VNI 1).
func seedEgress(t testing.TB, x l4, extra ...[]byte) []byte {
	return genevePkt(t, 1, 1, 2, innerIPv4(t, macDRJoin, macGRJoin, seedVM, seedServer, x), extra...)
}

// seedReply is the server's answer to the SNAT address.
func seedReply(t testing.TB, x l4) []byte {
	return innerIPv4(t, macNextHop, macGRExt, seedServer, seedSNAT, x)
}

// runFP runs one frame through xdp_gw and returns the verdict and the
// frame as the program left it.
func runFP(t testing.TB, p *ebpf.Program, frame []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(frame)+512)
	opts := ebpf.RunOptions{Data: frame, DataOut: out}
	ret, err := p.Run(&opts)
	if err != nil {
		t.Fatalf("prog run (%d bytes): %v", len(frame), err)
	}
	return ret, opts.DataOut
}

// onesSum is a naive RFC 1071 sum, folded; 0xffff means "verifies".
func onesSum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// verifyOuterUDP checks an encapsulated frame's outer UDP checksum by a
// full, independent sum over the datagram.
func verifyOuterUDP(t testing.TB, f []byte) {
	t.Helper()
	ip := f[14:34]
	ulen := int(binary.BigEndian.Uint16(f[38:]))
	if 34+ulen != len(f) {
		t.Fatalf("outer UDP length %d, frame %d", ulen, len(f))
	}
	if binary.BigEndian.Uint16(f[40:]) == 0 {
		t.Fatal("outer UDP checksum absent")
	}
	ps := uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:])) +
		uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:])) + 17 + uint32(ulen)
	if s := onesSum(f[34:], ps); s != 0xffff {
		t.Fatalf("outer UDP checksum %#04x does not verify (sum %#04x)", binary.BigEndian.Uint16(f[40:]), s)
	}
	if s := onesSum(ip, 0); s != 0xffff {
		t.Fatalf("outer IPv4 checksum does not verify")
	}
}

// toNAT addresses a reply l4 to the port (or echo id) that the egress
// output frame out carries.
func toNAT(x l4, out []byte) l4 {
	l4b := out[14+20:]
	if x.proto == layers.IPProtocolICMPv4 {
		x.icmpID = binary.BigEndian.Uint16(l4b[4:])
	} else {
		x.dport = binary.BigEndian.Uint16(l4b[0:])
	}
	return x
}

// toRev addresses a reply l4 to the reverse flow's key.
func toRev(x l4, rev flow.Action) l4 {
	if x.proto == layers.IPProtocolICMPv4 {
		x.icmpID = rev.Key.SrcPort
	} else {
		x.dport = rev.Key.DstPort
	}
	return x
}
