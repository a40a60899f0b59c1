package datapath

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

func wantTX(t *testing.T, p Packet, port flow.Port) {
	t.Helper()
	if p.Verdict != VerdictTX || p.OutPort != port {
		t.Fatalf("verdict %v/%v (reason %v), want tx on %v", p.Verdict, p.OutPort, p.Reason, port)
	}
}

func wantDrop(t *testing.T, p Packet, why Drop) {
	t.Helper()
	if p.Verdict != VerdictDrop || p.Reason != why {
		t.Fatalf("verdict %v reason %v, want drop %v", p.Verdict, p.Reason, why)
	}
}

// conns returns the connections of zone, keyed by proto+orig tuple.
func conns(h *harness, zone uint16) []conntrack.ConnInfo {
	var out []conntrack.ConnInfo
	h.ct.Range(func(c conntrack.ConnInfo) bool {
		if c.Orig.Zone == zone {
			out = append(out, c)
		}
		return true
	})
	return out
}

func TestTCPLifecycleThroughPipeline(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	tcp := func(syn, ack, fin, rst bool, seq, an uint32) seedtest.L4 {
		return seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 40000, DPort: 80, SYN: syn, ACK: ack, FIN: fin, RST: rst, Seq: seq, AckNum: an}
	}
	rtcp := func(syn, ack, fin, rst bool, seq, an uint32) seedtest.L4 {
		return seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 80, DPort: 40000, SYN: syn, ACK: ack, FIN: fin, RST: rst, Seq: seq, AckNum: an}
	}
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, tcp(true, false, false, false, 100, 0))), flow.External)
	wantTX(t, h.run(flow.External, seedtest.Reply(t, rtcp(true, true, false, false, 900, 101))), flow.Underlay)
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, tcp(false, true, false, false, 101, 901))), flow.External)
	for _, zone := range []uint16{6, 16} {
		cs := conns(h, zone)
		if len(cs) != 1 || cs[0].TCP != conntrack.TCPEstablished {
			t.Fatalf("zone %d after handshake: %+v", zone, cs)
		}
	}
	// Data far outside the window is invalid and dropped (pf, like OVS,
	// eases the sequence check for segments without data).
	oow := rtcp(false, true, false, false, 901+1<<30, 101)
	oow.Payload = []byte("out of window")
	wantDrop(t, h.run(flow.External, seedtest.Reply(t, oow)), DropCTInvalid)
	// Teardown.
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, tcp(false, true, true, false, 101, 901))), flow.External)
	wantTX(t, h.run(flow.External, seedtest.Reply(t, rtcp(false, true, true, false, 901, 102))), flow.Underlay)
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, tcp(false, true, false, false, 102, 902))), flow.External)
	for _, zone := range []uint16{6, 16} {
		cs := conns(h, zone)
		if len(cs) != 1 || cs[0].TCP == conntrack.TCPEstablished {
			t.Fatalf("zone %d after FIN/FIN/ACK still established: %+v", zone, cs)
		}
	}
	// A new SYN on the same 5-tuple opens a fresh connection.
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, tcp(true, false, false, false, 5000, 0))), flow.External)
	wantTX(t, h.run(flow.External, seedtest.Reply(t, rtcp(true, true, false, false, 7000, 5001))), flow.Underlay)
}

func TestTCPResetThroughPipeline(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 40001, DPort: 80, SYN: true, Seq: 1})), flow.External)
	wantTX(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 80, DPort: 40001, RST: true, ACK: true, Seq: 0, AckNum: 2})), flow.Underlay)
	for _, zone := range []uint16{6, 16} {
		for _, c := range conns(h, zone) {
			if c.TCP == conntrack.TCPEstablished || c.TCP == conntrack.TCPSynSent {
				t.Fatalf("zone %d after RST: %s", zone, c.TCP)
			}
		}
	}
}

func TestOneWayUDPStaysNew(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	for i := 0; i < 5; i++ {
		wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7000, DPort: 9000, Payload: []byte("flood")})), flow.External)
	}
	for _, zone := range []uint16{6, 16} {
		cs := conns(h, zone)
		if len(cs) != 1 || cs[0].State&conntrack.Established != 0 || cs[0].Packets[conntrack.DirOrig] != 5 {
			t.Fatalf("zone %d one-way UDP: %+v", zone, cs)
		}
	}
	back := h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 9000, DPort: 7000, Payload: []byte("answer")}))
	wantTX(t, back, flow.Underlay)
	seedtest.CheckChecksums(t, back.Frame())
	for _, zone := range []uint16{6, 16} {
		cs := conns(h, zone)
		if len(cs) != 1 || cs[0].State&conntrack.Established == 0 {
			t.Fatalf("zone %d answered UDP not established: %+v", zone, cs)
		}
	}
}

func TestICMPEchoThroughPipeline(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	out := h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 777, Payload: []byte("ping")}))
	wantTX(t, out, flow.External)
	seedtest.CheckChecksums(t, out.Frame())
	ic := seedtest.Decode(out.Frame()).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	back := h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, ICMPID: ic.Id, Payload: []byte("ping")}))
	wantTX(t, back, flow.Underlay)
	seedtest.CheckChecksums(t, back.Frame())
	pk := seedtest.Decode(back.Frame())
	var echo *layers.ICMPv4
	for _, l := range pk.Layers() {
		if v, ok := l.(*layers.ICMPv4); ok {
			echo = v
		}
	}
	if echo == nil || echo.Id != 777 || echo.TypeCode.Type() != 0 {
		t.Fatalf("echo reply back to the VM: %+v", echo)
	}
}

// TestICMPErrorRelated: a port unreachable for a SNATed UDP flow comes back
// to the SNAT address quoting the translated datagram; the VM must get it
// quoting its own addresses.
func TestICMPErrorRelated(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	out := h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7001, DPort: 9001, Payload: []byte("hello")}))
	wantTX(t, out, flow.External)
	sent := out.Frame()[14:] // the datagram as it left, to quote
	quoted := append([]byte(nil), sent[:28]...)
	e := &layers.Ethernet{SrcMAC: seedtest.MACNextHop, DstMAC: seedtest.MACGRExt, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 63, Protocol: layers.IPProtocolICMPv4, SrcIP: seedtest.Server, DstIP: seedtest.SNAT}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}
	back := h.run(flow.External, seedtest.Serialize(t, e, ip, icmp, gopacket.Payload(quoted)))
	wantTX(t, back, flow.Underlay)
	seedtest.CheckChecksums(t, back.Frame())
	f := back.Frame()
	innerIP := packet.IPv4(f[geneveInner(t, f)+14:])
	if innerIP.Dst() != packet.IP4(seedtest.VM.To4()) {
		t.Fatalf("ICMP error outer dst %v, want the VM", innerIP.Dst())
	}
	q := packet.IPv4(f[geneveInner(t, f)+14+20+8:])
	qu := packet.UDP(q[20:])
	if q.Src() != packet.IP4(seedtest.VM.To4()) || qu.SrcPort() != 7001 || !q.ChecksumValid() {
		t.Fatalf("quoted datagram src %v:%d (valid hdr csum %v), want the VM's own", q.Src(), qu.SrcPort(), q.ChecksumValid())
	}
}

// geneveInner returns the offset of the inner Ethernet frame.
func geneveInner(t *testing.T, f []byte) int {
	t.Helper()
	g := f[14+20+8:]
	return 14 + 20 + 8 + 8 + int(g[0]&0x3f)*4
}

func TestUnsolicitedSYNDropped(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	wantDrop(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 4444, DPort: 22, SYN: true, Seq: 1})), DropNoConn)
	if s := h.pl.Stats(); s.Drops[DropNoConn] != 1 {
		t.Fatalf("no-connection drops %d, want 1", s.Drops[DropNoConn])
	}
	if h.ct.Len() != 0 {
		t.Fatalf("an unsolicited SYN created %d conntrack entries", h.ct.Len())
	}
}

// TestTTLExpiredAnswered: a packet whose TTL runs out at the gateway
// router is not forwarded; the router answers with time exceeded.
func TestTTLExpiredAnswered(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	f := seedtest.Egress(t, seedtest.L4{TTL: 1, Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2})
	wantTimeExceeded(t, h.run(flow.Underlay, f))
	if h.ct.Len() != 0 {
		t.Fatalf("an expired packet created %d conntrack entries", h.ct.Len())
	}
}

func TestNotOursPassesToKernel(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	// ARP on the external side, and traffic to the router's own address.
	arp := seedtest.Serialize(t, &layers.Ethernet{SrcMAC: seedtest.MACNextHop, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: seedtest.MACNextHop, SourceProtAddress: []byte{172, 31, 5, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{172, 31, 5, 230}})
	if p := h.run(flow.External, arp); p.Verdict != VerdictPass {
		t.Fatalf("external ARP: %v", p.Verdict)
	}
	host := seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, net.IP{172, 31, 5, 230}, seedtest.L4{TTL: 64, Proto: layers.IPProtocolTCP, SPort: 1, DPort: 22, SYN: true})
	if p := h.run(flow.External, host); p.Verdict != VerdictPass {
		t.Fatalf("to the host's own address: %v %v", p.Verdict, p.Reason)
	}
	// Plain UDP on the underlay that is not Geneve (e.g. BGP/BFD).
	plain := seedtest.InnerIPv4(t, seedtest.MACHV, seedtest.MACGWUnder, seedtest.Chassis, seedtest.VTEP, seedtest.L4{TTL: 64, Proto: layers.IPProtocolUDP, SPort: 3784, DPort: 3784})
	if p := h.run(flow.Underlay, plain); p.Verdict != VerdictPass {
		t.Fatalf("non-Geneve underlay UDP: %v %v", p.Verdict, p.Reason)
	}
}

// TestARPOverGeneve: OVN's distributed router resolves the gateway router's
// join address with an ARP request over Geneve; we answer to the sender.
func TestARPOverGeneve(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	req := seedtest.Serialize(t, &layers.Ethernet{SrcMAC: seedtest.MACDRJoin, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: seedtest.MACDRJoin, SourceProtAddress: []byte{172, 16, 255, 2}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{172, 16, 255, 3}})
	req = req[:42]
	out := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 0x8000, req))
	wantTX(t, out, flow.Underlay)
	pk := seedtest.Decode(out.Frame())
	g := pk.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
	if g.VNI != 1 || len(g.Options) != 1 || binary.BigEndian.Uint32(g.Options[0].Data) != 2<<16|1 {
		t.Fatalf("ARP reply Geneve: vni %d options %+v", g.VNI, g.Options)
	}
	a, ok := pk.Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok || a.Operation != 2 || !bytes.Equal(a.SourceHwAddress, seedtest.MACGRJoin) || !bytes.Equal(a.SourceProtAddress, []byte{172, 16, 255, 3}) ||
		!bytes.Equal(a.DstHwAddress, seedtest.MACDRJoin) {
		t.Fatalf("ARP reply: %+v", a)
	}
	ips := 0
	for _, l := range pk.Layers() {
		if v, ok := l.(*layers.IPv4); ok && ips == 0 {
			ips++
			if !v.DstIP.Equal(seedtest.Chassis) {
				t.Fatalf("reply goes to %v, want the sending chassis", v.DstIP)
			}
		}
	}
	// ARP for an address we do not own is dropped, not answered.
	req2 := append([]byte(nil), req...)
	copy(req2[38:42], []byte{172, 16, 255, 99})
	wantDrop(t, h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 0x8000, req2)), DropARP)
}

func TestPortExhaustion(t *testing.T) {
	raw, err := os.ReadFile(seedtest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	small := strings.Replace(string(raw), "port_range: 1024-65535", "port_range: 2000-2001", 1)
	if small == string(raw) {
		t.Fatal("seed.yaml has no 'port_range: 1024-65535' to shrink")
	}
	path := t.TempDir() + "/small.yaml"
	if err := os.WriteFile(path, []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, path, conntrack.Config{})
	for sport := uint16(3000); sport < 3002; sport++ {
		wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: sport, DPort: 53})), flow.External)
	}
	wantDrop(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 3002, DPort: 53})), DropNATExhausted)
	if s := h.pl.Stats(); s.Drops[DropNATExhausted] != 1 {
		t.Fatalf("nat-exhausted drops %d", s.Drops[DropNATExhausted])
	}
	// The existing flows keep working.
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 3000, DPort: 53})), flow.External)
}

func TestTableFull(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{Capacity: 2}) // one flow: one entry per zone
	wantTX(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1111, DPort: 53})), flow.External)
	wantDrop(t, h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1112, DPort: 53})), DropCTFull)
	wantTX(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 1111})), flow.Underlay)
	if s := h.pl.Stats(); s.Drops[DropCTFull] != 1 {
		t.Fatalf("ct-full drops %d", s.Drops[DropCTFull])
	}
}

// TestMalformedNeverPanics truncates and corrupts the seed packets at every
// byte and checks that each one gets exactly one verdict and counter.
func TestMalformedNeverPanics(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	eg := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true})
	rp := seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47190, SYN: true, ACK: true})
	n := 0
	for i := 0; i < len(eg); i++ {
		h.run(flow.Underlay, eg[:i])
		c := append([]byte(nil), eg...)
		c[i] ^= 0xff
		h.run(flow.Underlay, c)
		n += 2
	}
	for i := 0; i < len(rp); i++ {
		h.run(flow.External, rp[:i])
		c := append([]byte(nil), rp...)
		c[i] ^= 0xff
		h.run(flow.External, c)
		n += 2
	}
	s := h.pl.Stats()
	var total, drops uint64
	for _, v := range s.Verdicts {
		total += v
	}
	for _, d := range s.Drops {
		drops += d
	}
	if total != uint64(n) || drops != s.Verdicts[VerdictDrop] {
		t.Fatalf("verdicts %d for %d packets; drop reasons %d vs drop verdicts %d", total, n, drops, s.Verdicts[VerdictDrop])
	}
	if s.Drops[DropNone] != 0 {
		t.Fatalf("%d drops without a reason", s.Drops[DropNone])
	}
}
