package offload

import (
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// fakeFP6 is the harness's backend with IPv6 entries to iterate.
type fakeFP6 struct {
	*fakeFP
	flows6 []flow.Action6
	c6     []Counters
}

func (f *fakeFP6) InstallBatch6(a []flow.Action6) (int, error) {
	f.flows6 = append(f.flows6, a...)
	f.c6 = append(f.c6, make([]Counters, len(a))...)
	return len(a), nil
}
func (f *fakeFP6) RemoveBatch6(k []flow.Key6) (int, error) { return 0, nil }
func (f *fakeFP6) Counters6(k flow.Key6) (Counters, error) { return Counters{}, nil }
func (f *fakeFP6) Iterate6(fn func(a *flow.Action6, c Counters) bool) error {
	for i := range f.flows6 {
		if !fn(&f.flows6[i], f.c6[i]) {
			break
		}
	}
	return nil
}

const goldenOffloaded6 = `in_port(underlay),tunnel(tun_id=0x1,tp_dst=6081,geneve({class=0x102,type=0x80,len=4}),flags(+key)),eth(dst=0a:00:00:00:00:02),eth_type(0x86dd),ipv6(src=fd00::10,dst=2001:db8::7,proto=58,frag=no),icmpv6(type=128,code=0),icmp_id(7), packets:5, bytes:520, used:0.250s, offloaded:yes, dp:xdp, actions:ct_clear,set(eth(src=0a:00:00:00:00:01,dst=0a:00:00:00:00:99)),set(ipv6(src=2001:db8:5::5)),dec_ttl(1),set(icmp_id(1024)),eth1
in_port(eth1),eth_type(0x86dd),ipv6(src=2001:db8::7,dst=2001:db8:5::5,proto=17,frag=no),udp(src=53,dst=40000), packets:0, bytes:0, used:never, offloaded:yes, dp:xdp, actions:ct_clear,set(tunnel(tun_id=0x9,ipv6_src=fd99::5,ipv6_dst=fd99::1,ttl=64,tp_src=49152,tp_dst=6081,geneve({class=0x102,type=0x80,len=4,0x10002}),flags(csum|key))),set(eth(src=0a:00:00:00:00:03,dst=00:00:19:91:00:10)),set(ipv6(dst=fd00::10)),dec_ttl(2),underlay
`

// TestDumpFlows6Golden: IPv6 entries of a Backend6 show in OVS's IPv6
// spelling after the IPv4 ones.
func TestDumpFlows6Golden(t *testing.T) {
	h := newHarness(t, defaultCfg())
	f6 := &fakeFP6{fakeFP: h.fp}
	h.m.bes = []Backend{f6}
	vm, ext, snat := packet.MustIP6("fd00::10"), packet.MustIP6("2001:db8::7"), packet.MustIP6("2001:db8:5::5")
	rep := flow.Action6{
		Key:     flow.Key6{InPort: flow.External, Src: ext, Dst: snat, SrcPort: 53, DstPort: 40000, Proto: packet.ProtoUDP},
		OutPort: flow.Underlay, EthSrc: packet.MAC{10, 0, 0, 0, 0, 3}, EthDst: packet.MAC{0, 0, 0x19, 0x91, 0, 0x10}, HopDec: 2,
		NATSrc: ext, NATDst: vm, NATSrcPort: 53, NATDstPort: 40000, Encap: true, Underlay6: true,
		Outer6: geneve.EncapParams6{Src: packet.MustIP6("fd99::5"), Dst: packet.MustIP6("fd99::1"), SrcPort: 49152, VNI: 9, InPort: 1, OutPort: 2},
	}
	eg := flow.Action6{
		Key:     flow.Key6{InPort: flow.Underlay, VNI: 1, InnerDst: packet.MAC{10, 0, 0, 0, 0, 2}, Src: vm, Dst: ext, SrcPort: 7, DstPort: 7, Proto: packet.ProtoICMPv6},
		OutPort: flow.External, Decap: true, EthSrc: packet.MAC{10, 0, 0, 0, 0, 1}, EthDst: packet.MAC{10, 0, 0, 0, 0, 0x99}, HopDec: 1,
		NATSrc: snat, NATDst: ext, NATSrcPort: 1024, NATDstPort: 1024,
		Conns: [2]flow.Conn{{Dir: conntrack.DirOrig}, {Dir: conntrack.DirOrig}},
	}
	if _, err := f6.InstallBatch6([]flow.Action6{rep, eg}); err != nil {
		t.Fatal(err)
	}
	now := h.clock.now()
	f6.c6[1] = Counters{Packets: 5, Bytes: 520, LastSeen: now - 250*ms}
	names := [flow.NumPorts]string{flow.External: "eth1"}
	if got := dump(t, h, DumpOptions{Type: "offloaded", PortNames: names}); got != goldenOffloaded6 {
		t.Errorf("type=offloaded:\n%s\nwant:\n%s", got, goldenOffloaded6)
	}
	if got := dump(t, h, DumpOptions{Type: "software"}); strings.Contains(got, "ipv6") {
		t.Errorf("type=software shows offloaded IPv6 entries:\n%s", got)
	}
}

// TestDumpFlows6Software: IPv6 connections in software show as OVS's
// per-zone recirculation flows (eth_type(0x86dd), ipv6(...), icmpv6 echo
// request one way and reply the other), after the IPv4 ones; a connection
// a Backend6 entry carries shows only as offloaded.
func TestDumpFlows6Software(t *testing.T) {
	h := newHarness(t, defaultCfg())
	f6 := &fakeFP6{fakeFP: h.fp}
	h.m.bes = []Backend{f6}
	ct6, err := conntrack.NewTable6(conntrack.Config{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	vm, ext, snat := packet.MustIP6("fd00::10"), packet.MustIP6("2001:db8::7"), packet.MustIP6("2001:db8:5::5")
	now := h.clock.now()
	udp := conntrack.Tuple6{Src: vm, Dst: ext, SrcPort: 40000, DstPort: 53, Proto: packet.ProtoUDP, Zone: 16}
	keep := chooser6(func(o conntrack.Tuple6) conntrack.Tuple6 { r := o.Reverse(); r.Dst = snat; return r })
	if _, err := ct6.Commit(udp, &conntrack.Meta{Len: 80}, now-1500*ms, keep); err != nil {
		t.Fatal(err)
	}
	echo := conntrack.Tuple6{Src: vm, Dst: ext, SrcPort: 7, DstPort: 7, Proto: packet.ProtoICMPv6, Zone: 6}
	if _, err := ct6.Commit(echo, &conntrack.Meta{Len: 104, ICMPType: packet.ICMPv6EchoRequest}, now-250*ms, nil); err != nil {
		t.Fatal(err)
	}
	off := conntrack.Tuple6{Src: vm, Dst: ext, SrcPort: 40001, DstPort: 443, Proto: packet.ProtoTCP, Zone: 16}
	if _, err := ct6.Commit(off, &conntrack.Meta{Len: 60, TCPFlags: packet.TCPFlagSYN}, now, nil); err != nil {
		t.Fatal(err)
	}
	// A NATed UDP connection offloaded: its SNAT-zone entry's reply side
	// is the ingress entry's key.
	udpOff := conntrack.Tuple6{Src: vm, Dst: ext, SrcPort: 40002, DstPort: 53, Proto: packet.ProtoUDP, Zone: 16}
	if _, err := ct6.Commit(udpOff, &conntrack.Meta{Len: 80}, now, keep); err != nil {
		t.Fatal(err)
	}
	// As bpf.Backend's, the entries carry no conntrack handles (Conns
	// zero): the dump matches them by 5-tuple.
	inHW := []flow.Action6{
		{Key: flow.Key6{InPort: flow.Underlay, VNI: 1, Src: vm, Dst: ext, SrcPort: 40001, DstPort: 443, Proto: packet.ProtoTCP}, OutPort: flow.External},
		{Key: flow.Key6{InPort: flow.External, Src: ext, Dst: snat, SrcPort: 53, DstPort: 40002, Proto: packet.ProtoUDP}, OutPort: flow.Underlay},
	}
	if _, err := f6.InstallBatch6(inHW); err != nil {
		t.Fatal(err)
	}
	want := `ct_zone(6),ct_state(+new+trk),eth_type(0x86dd),ipv6(src=fd00::10,dst=2001:db8::7,proto=58,frag=no),icmpv6(type=128,code=0), packets:1, bytes:104, used:0.250s, offloaded:no, dp:software, actions:ct(zone=6)
ct_zone(6),ct_state(+new+rpl+trk),eth_type(0x86dd),ipv6(src=2001:db8::7,dst=fd00::10,proto=58,frag=no),icmpv6(type=129,code=0), packets:0, bytes:0, used:never, offloaded:no, dp:software, actions:ct(zone=6)
ct_zone(16),ct_state(+new+trk+snat),eth_type(0x86dd),ipv6(src=fd00::10,dst=2001:db8::7,proto=17,frag=no),udp(src=40000,dst=53), packets:1, bytes:80, used:1.500s, offloaded:no, dp:software, actions:ct(zone=16,nat)
ct_zone(16),ct_state(+new+rpl+trk+snat),eth_type(0x86dd),ipv6(src=2001:db8::7,dst=2001:db8:5::5,proto=17,frag=no),udp(src=53,dst=40000), packets:0, bytes:0, used:never, offloaded:no, dp:software, actions:ct(zone=16,nat)
`
	if got := dump(t, h, DumpOptions{Type: "software", Conntrack6: ct6}); got != want {
		t.Errorf("type=software:\n%s\nwant:\n%s", got, want)
	}
	all := dump(t, h, DumpOptions{Conntrack6: ct6})
	if !strings.HasSuffix(all, want) || !strings.HasPrefix(all, "in_port(underlay),") || strings.Count(all, "\n") != 6 ||
		!strings.Contains(all, "ipv6(src=fd00::10,dst=2001:db8::7,proto=6,frag=no),tcp(src=40001,dst=443), packets:0, bytes:0, used:never, offloaded:yes") {
		t.Errorf("all (the TCP connection offloaded, first):\n%s", all)
	}
	if got := dump(t, h, DumpOptions{Type: "offloaded", Conntrack6: ct6}); strings.Contains(got, "dp:software") {
		t.Errorf("type=offloaded shows software flows:\n%s", got)
	}
}

type chooser6 func(conntrack.Tuple6) conntrack.Tuple6

func (f chooser6) ChooseReply(o conntrack.Tuple6, taken conntrack.Taken6) (conntrack.Tuple6, bool) {
	r := f(o)
	return r, !taken.Taken(r)
}
