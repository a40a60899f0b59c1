package route

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

func TestSeedTopology(t *testing.T) {
	topo := build(t, "seed.yaml")
	if topo.VTEP != ip("172.31.5.23") || topo.GenevePort != 6081 || topo.GeneveTTL != 64 || !topo.GeneveChecksum {
		t.Errorf("tunnel = %s %d %d %v", topo.VTEP, topo.GenevePort, topo.GeneveTTL, topo.GeneveChecksum)
	}
	gr := router(t, topo, "gr1")
	dr := router(t, topo, "dr")
	if gr.Distributed || gr.DNATZone != 6 || gr.SNATZone != 16 || gr.ID != 1 || topo.Routers[1] != gr {
		t.Errorf("gr1 = %+v", gr)
	}
	if !dr.Distributed || dr.External != nil || dr.ID != 0 {
		t.Errorf("dr = %+v", dr)
	}
	ext := gr.External
	if ext == nil || ext.Name != "gr1-ext" || !ext.External || ext.Switch != nil || ext.Key != 0 ||
		ext.IP != ip("172.31.5.230") || ext.Prefix != netip.MustParsePrefix("172.31.5.0/24") || ext.MAC != mac("ae:a9:a9:0c:6f:c8") {
		t.Errorf("gr1 external = %+v", ext)
	}
}

// TestSeedEgress follows the seed's egress flow: Geneve VNI 1 to the GR's
// join MAC, routed out of the external port to 172.31.5.1.
func TestSeedEgress(t *testing.T) {
	topo := build(t, "seed.yaml")
	rp, ok := topo.JoinPort(1, mac("ae:cd:cd:04:d7:d4"))
	if !ok || rp.Name != "gr1-join" || rp.Router.Name != "gr1" || rp.Key != 2 || rp.Switch.Key != 1 || rp.IP != ip("172.16.255.3") {
		t.Fatalf("JoinPort(1, gr1-join MAC) = %+v, %v", rp, ok)
	}
	// Not for us: the DR's MAC (the hypervisor runs it), a wrong VNI, an unknown MAC.
	for _, k := range []struct {
		vni uint32
		m   string
	}{{1, "ae:03:03:17:eb:df"}, {9, "ae:cd:cd:04:d7:d4"}, {1, "ae:cd:cd:04:d7:d5"}} {
		if rp, ok := topo.JoinPort(k.vni, mac(k.m)); ok {
			t.Errorf("JoinPort(%d, %s) = %s, want none", k.vni, k.m, rp.Name)
		}
	}
	hop, ok := rp.Router.Route(ip("172.31.6.24"))
	if !ok || hop.Port != rp.Router.External || hop.NextHop != ip("172.31.5.1") {
		t.Fatalf("Route(172.31.6.24) = %+v, %v", hop, ok)
	}
	neigh := StaticNeighbors{ip("172.31.5.1"): mac("88:2a:5e:a9:30:ab")}
	if m, ok := neigh.Lookup(hop.NextHop); !ok || m != mac("88:2a:5e:a9:30:ab") {
		t.Errorf("neighbour %s = %s, %v", hop.NextHop, m, ok)
	}
	if _, ok := neigh.Lookup(ip("172.31.5.2")); ok {
		t.Error("unknown neighbour resolved")
	}
	// Connected external subnet: next hop is the destination itself.
	if hop, ok := rp.Router.Route(ip("172.31.5.77")); !ok || hop.Port.Name != "gr1-ext" || hop.NextHop != ip("172.31.5.77") {
		t.Errorf("Route(172.31.5.77) = %+v, %v", hop, ok)
	}
}

// TestSeedIngress follows the seed's return flow after un-SNAT: the GR
// routes to the DR over the join switch, the DR to sw1, and the frame is
// encapsulated with VNI 9, option 0x10002, to node01 (the flow dump's
// set(tunnel(tun_id=0x9,dst=172.31.1.21,...,0x10002)).
func TestSeedIngress(t *testing.T) {
	topo := build(t, "seed.yaml")
	r, ok := topo.RouterByExternalIP(ip("123.123.123.123"))
	if !ok || r.Name != "gr1" {
		t.Fatalf("RouterByExternalIP(123.123.123.123) = %v, %v", r, ok)
	}
	hop, _ := r.Route(ip("10.199.100.10"))
	if hop.Port.Name != "gr1-join" || hop.NextHop != ip("172.16.255.2") {
		t.Fatalf("gr1.Route(10.199.100.10) = %+v", hop)
	}
	got := deliver(t, topo, r, ip("10.199.100.10"))
	want := delivery{
		vni: 9, inport: 1, outport: 2, chassis: ip("172.31.1.21"),
		srcMAC: mac("ae:95:95:65:27:a6"), dstMAC: mac("00:00:19:91:00:10"),
		gwPort: "gr1-join", drInPort: "dr-join",
	}
	if got != want {
		t.Errorf("delivery = %+v\nwant       %+v", got, want)
	}
	if opt := uint32(got.inport)<<16 | uint32(got.outport); opt != 0x10002 {
		t.Errorf("option = %#x", opt)
	}
	// A tenant address with no VM bound is routed but has no logical port.
	dr := router(t, topo, "dr")
	hop2, _ := dr.Route(ip("10.199.100.11"))
	if _, ok := topo.LogicalPort(hop2.Port.Switch, hop2.NextHop); ok {
		t.Error("LogicalPort(10.199.100.11) found an unbound VM")
	}
	if _, ok := topo.LogicalPort(nil, ip("10.199.100.10")); ok {
		t.Error("LogicalPort(nil switch) found something")
	}
	if _, ok := topo.RouterPortByIP(nil, ip("172.16.255.2")); ok {
		t.Error("RouterPortByIP(nil switch) found something")
	}
}

// TestSeedARP checks what the pipeline needs to answer ARP over Geneve for
// a gateway join port.
func TestSeedARP(t *testing.T) {
	topo := build(t, "seed.yaml")
	sw, ok := topo.SwitchByKey(1)
	if !ok || sw.Name != "join" || len(sw.RouterPorts) != 2 {
		t.Fatalf("SwitchByKey(1) = %+v, %v", sw, ok)
	}
	rp, ok := topo.RouterPortByIP(sw, ip("172.16.255.3"))
	if !ok || rp.Name != "gr1-join" || rp.Router.Distributed || rp.MAC != mac("ae:cd:cd:04:d7:d4") {
		t.Errorf("RouterPortByIP(join, 172.16.255.3) = %+v, %v", rp, ok)
	}
	if _, ok := topo.SwitchByKey(2); ok {
		t.Error("SwitchByKey(2) found a switch")
	}
}

func TestSeedExternal(t *testing.T) {
	topo := build(t, "seed.yaml")
	want := []packet.IP4{ip("123.123.123.123"), ip("172.31.5.230")}
	if got := topo.ExternalIPs(); !slices.Equal(got, want) {
		t.Errorf("ExternalIPs = %v, want %v", got, want)
	}
	for _, a := range want {
		if !topo.IsExternalIP(a) {
			t.Errorf("IsExternalIP(%s) = false", a)
		}
	}
	if topo.IsExternalIP(ip("10.199.100.10")) || topo.IsExternalIP(ip("172.31.5.23")) {
		t.Error("IsExternalIP true for an internal address")
	}
	if _, ok := topo.RouterByExternalIP(ip("172.31.6.24")); ok {
		t.Error("RouterByExternalIP(172.31.6.24) found a router")
	}
	if got := topo.ExternalNextHops(); !slices.Equal(got, []packet.IP4{ip("172.31.5.1")}) {
		t.Errorf("ExternalNextHops = %v", got)
	}
	rules := router(t, topo, "gr1").NATRules()
	wantRule := NATRule{Type: nat.KindSNAT, Logical: netip.MustParsePrefix("10.199.100.0/24"), External: ip("123.123.123.123"), PortMin: 1024, PortMax: 65535}
	if len(rules) != 1 || rules[0] != wantRule {
		t.Errorf("NATRules = %+v", rules)
	}
	if len(router(t, topo, "dr").NATRules()) != 0 {
		t.Error("dr has NAT rules")
	}
}

func TestLab(t *testing.T) {
	topo := build(t, "lab.yaml")
	if topo.VTEP != ip("192.0.2.1") {
		t.Errorf("VTEP = %s", topo.VTEP)
	}
	rp, ok := topo.JoinPort(1, mac("ae:cd:cd:04:d7:d4"))
	if !ok {
		t.Fatal("no join port")
	}
	if hop, _ := rp.Router.Route(ip("198.51.100.200")); hop.NextHop != ip("198.51.100.200") || !hop.Port.External {
		t.Errorf("connected external: %+v", hop)
	}
	if hop, _ := rp.Router.Route(ip("8.8.8.8")); hop.NextHop != ip("198.51.100.2") || !hop.Port.External {
		t.Errorf("default: %+v", hop)
	}
	r, ok := topo.RouterByExternalIP(ip("203.0.113.10"))
	if !ok || r != rp.Router {
		t.Fatalf("RouterByExternalIP(203.0.113.10) = %v, %v", r, ok)
	}
	got := deliver(t, topo, r, ip("10.199.100.10"))
	if got.vni != 9 || got.inport != 1 || got.outport != 2 || got.chassis != ip("192.0.2.2") {
		t.Errorf("delivery = %+v", got)
	}
}

func TestPeerRouterOnlyDistributed(t *testing.T) {
	topo := build(t, "seed.yaml")
	gr := router(t, topo, "gr1")
	// The external hop leads to no router at all.
	hop, _ := gr.Route(ip("172.31.6.24"))
	if p, ok := topo.PeerRouter(hop); ok {
		t.Errorf("PeerRouter(external hop) = %s", p.Name)
	}
	// A hop to the gateway's own join address is not a distributed peer.
	join, _ := gr.Port("gr1-join")
	if p, ok := topo.PeerRouter(Hop{Port: join, NextHop: ip("172.16.255.3")}); ok {
		t.Errorf("PeerRouter(own port) = %s", p.Name)
	}
	if _, ok := topo.PeerRouter(Hop{}); ok {
		t.Error("PeerRouter(zero hop) found something")
	}
}
