package offload

import (
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

func dumpSetup(t *testing.T) *harness {
	h := newHarness(t, defaultCfg())
	u := h.promotedUDP(40000)
	i := h.open(packet.ProtoICMP, 7, 7, &conntrack.Meta{ICMPType: 8})
	i.send(conntrack.DirReply, 1, &conntrack.Meta{ICMPType: 0})
	i.report()
	h.step()
	sw := h.open(packet.ProtoTCP, 40001, 443, &syn)
	sw.report()
	h.step()
	now := h.clock.advance(2 * sec)
	h.fp.hit(u.fwdKey(), 1000, 150000, now-123*ms)
	return h
}

func dump(t *testing.T, h *harness, opts DumpOptions) string {
	t.Helper()
	var b strings.Builder
	if err := h.m.DumpFlows(&b, opts); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

const goldenOffloaded = `in_port(underlay),tunnel(tun_id=0x1,tp_dst=6081,geneve({class=0x102,type=0x80,len=4}),flags(+key)),eth(dst=0a:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.199.100.10,dst=198.51.100.7,proto=1,frag=no),icmp(type=8,code=0),icmp_id(7), packets:0, bytes:0, used:never, offloaded:yes, dp:xdp, actions:ct_clear,set(eth(src=0a:00:00:00:00:01,dst=0a:00:00:00:00:99)),set(ipv4(src=203.0.113.5)),dec_ttl(1),eth1
in_port(underlay),tunnel(tun_id=0x1,tp_dst=6081,geneve({class=0x102,type=0x80,len=4}),flags(+key)),eth(dst=0a:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.199.100.10,dst=198.51.100.7,proto=17,frag=no),udp(src=40000,dst=53), packets:1000, bytes:150000, used:0.123s, offloaded:yes, dp:xdp, actions:ct_clear,set(eth(src=0a:00:00:00:00:01,dst=0a:00:00:00:00:99)),set(ipv4(src=203.0.113.5)),dec_ttl(1),set(udp(src=50000)),eth1
in_port(eth1),eth_type(0x0800),ipv4(src=198.51.100.7,dst=203.0.113.5,proto=1,frag=no),icmp(type=0,code=0),icmp_id(7), packets:0, bytes:0, used:never, offloaded:yes, dp:xdp, actions:ct_clear,set(tunnel(tun_id=0x9,src=172.31.5.23,dst=172.31.1.21,ttl=64,tp_src=49152,tp_dst=6081,geneve({class=0x102,type=0x80,len=4,0x10002}),flags(df|csum|key))),set(eth(src=0a:00:00:00:00:03,dst=00:00:19:91:00:10)),set(ipv4(dst=10.199.100.10)),dec_ttl(1),underlay
in_port(eth1),eth_type(0x0800),ipv4(src=198.51.100.7,dst=203.0.113.5,proto=17,frag=no),udp(src=53,dst=50000), packets:0, bytes:0, used:never, offloaded:yes, dp:xdp, actions:ct_clear,set(tunnel(tun_id=0x9,src=172.31.5.23,dst=172.31.1.21,ttl=64,tp_src=49152,tp_dst=6081,geneve({class=0x102,type=0x80,len=4,0x10002}),flags(df|csum|key))),set(eth(src=0a:00:00:00:00:03,dst=00:00:19:91:00:10)),set(ipv4(dst=10.199.100.10)),dec_ttl(1),set(udp(dst=40000)),underlay
`

const goldenSoftware = `ct_zone(6),ct_state(+new+trk),eth_type(0x0800),ipv4(src=10.199.100.10,dst=198.51.100.7,proto=6,frag=no),tcp(src=40001,dst=443), packets:1, bytes:100, used:2.000s, offloaded:no, dp:software, actions:ct(zone=6)
ct_zone(6),ct_state(+new+rpl+trk),eth_type(0x0800),ipv4(src=198.51.100.7,dst=10.199.100.10,proto=6,frag=no),tcp(src=443,dst=40001), packets:0, bytes:0, used:never, offloaded:no, dp:software, actions:ct(zone=6)
ct_zone(16),ct_state(+new+trk),eth_type(0x0800),ipv4(src=10.199.100.10,dst=198.51.100.7,proto=6,frag=no),tcp(src=40001,dst=443), packets:1, bytes:100, used:2.000s, offloaded:no, dp:software, actions:ct(zone=16)
ct_zone(16),ct_state(+new+rpl+trk),eth_type(0x0800),ipv4(src=198.51.100.7,dst=10.199.100.10,proto=6,frag=no),tcp(src=443,dst=40001), packets:0, bytes:0, used:never, offloaded:no, dp:software, actions:ct(zone=16)
`

func TestDumpFlowsGolden(t *testing.T) {
	h := dumpSetup(t)
	names := [flow.NumPorts]string{flow.External: "eth1"}
	if got := dump(t, h, DumpOptions{Type: "offloaded", PortNames: names}); got != goldenOffloaded {
		t.Errorf("type=offloaded:\n%s\nwant:\n%s", got, goldenOffloaded)
	}
	if got := dump(t, h, DumpOptions{Type: "software"}); got != goldenSoftware {
		t.Errorf("type=software:\n%s\nwant:\n%s", got, goldenSoftware)
	}
	if got := dump(t, h, DumpOptions{PortNames: names}); got != goldenOffloaded+goldenSoftware {
		t.Errorf("all:\n%s", got)
	}
	var b strings.Builder
	if err := h.m.DumpFlows(&b, DumpOptions{Type: "hardware"}); err == nil {
		t.Error("unknown type accepted")
	}
}
