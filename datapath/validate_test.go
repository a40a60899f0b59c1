package datapath

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// egressFrom is a seed egress packet with other inner addresses.
func egressFrom(t *testing.T, src, dst net.IP, x seedtest.L4) []byte {
	t.Helper()
	return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
		seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, src, dst, x))
}

var udpProbe = seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40000, DPort: 53, Payload: []byte("probe")}

// cacheProbe answers the seed egress probe eg (already sent once) from the
// server and sends eg until the flow cache forwards it, so that a test's
// next packet of the flow meets the cache's probe, not only the pipeline.
func cacheProbe(t *testing.T, h *harness, eg []byte) {
	t.Helper()
	reply := seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 40000, Payload: []byte("a")})
	wantTX(t, h.run(flow.External, reply), flow.Underlay)
	for range 3 {
		wantTX(t, h.run(flow.Underlay, eg), flow.External)
	}
	if h.pl.Stats().CacheHits == 0 {
		t.Fatal("setup: the flow never hit the cache")
	}
}

// innerIPOff is where the inner IPv4 header starts in a seed egress frame
// (outer eth/IPv4/UDP, Geneve with the OVN option, inner eth).
const innerIPOff = 14 + 20 + 8 + 8 + 8 + 14

// TestBadIPChecksumDropped: RFC 1812 5.2.2: a packet whose IPv4 header
// checksum is wrong is discarded in both directions, and the flow cache
// does not forward it either; nothing is committed for it.
func TestBadIPChecksumDropped(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	eg := seedtest.Egress(t, udpProbe)
	bad := append([]byte(nil), eg...)
	bad[innerIPOff+10] ^= 0x5a
	seedtest.FixOuterUDP(bad)
	wantDrop(t, h.run(flow.Underlay, bad), DropIPChecksum)
	if n := len(conns(h, 6)) + len(conns(h, 16)); n != 0 {
		t.Fatalf("%d connections committed for a packet with a bad checksum", n)
	}

	// Establish the flow and teach the cache (a packet each way, then
	// one more that hits), then corrupt one.
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	cacheProbe(t, h, eg)
	wantDrop(t, h.run(flow.Underlay, bad), DropIPChecksum)

	badReply := seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 40000, Payload: []byte("a")})
	badReply[14+10] ^= 0x5a
	wantDrop(t, h.run(flow.External, badReply), DropIPChecksum)
	if got := h.pl.Stats().Drops[DropIPChecksum]; got != 3 {
		t.Fatalf("ip-checksum drops %d, want 3", got)
	}
}

// TestMartiansDropped: RFC 1812 5.3.7 and OVN's lr_in_ip_input: martian
// sources and destinations are dropped, by reason, in both directions.
func TestMartiansDropped(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	vm, server := seedtest.VM, seedtest.Server
	for _, tc := range []struct {
		name     string
		src, dst net.IP
		why      Drop
	}{
		{"src-this-network", net.IP{0, 0, 0, 5}, server, DropMartianSource},
		{"src-loopback", net.IP{127, 0, 0, 1}, server, DropMartianSource},
		{"src-multicast", net.IP{224, 0, 0, 9}, server, DropMartianSource},
		{"src-class-e", net.IP{240, 1, 2, 3}, server, DropMartianSource},
		{"src-broadcast", net.IP{255, 255, 255, 255}, server, DropMartianSource},
		{"src-router-join-port", net.IP{172, 16, 255, 3}, server, DropMartianSource},
		{"src-router-external-port", net.IP{172, 31, 5, 230}, server, DropMartianSource},
		{"dst-this-network", vm, net.IP{0, 1, 2, 3}, DropMartianDest},
		{"dst-loopback", vm, net.IP{127, 0, 0, 1}, DropMartianDest},
		{"dst-multicast", vm, net.IP{239, 1, 1, 1}, DropMartianDest},
		{"dst-broadcast", vm, net.IP{255, 255, 255, 255}, DropMartianDest},
		{"dst-external-subnet-broadcast", vm, net.IP{172, 31, 5, 255}, DropMartianDest},
		{"dst-join-subnet-broadcast", vm, net.IP{172, 16, 255, 255}, DropMartianDest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantDrop(t, h.run(flow.Underlay, egressFrom(t, tc.src, tc.dst, udpProbe)), tc.why)
		})
	}
	// From the internet, to the SNAT address.
	for _, src := range []net.IP{{127, 0, 0, 1}, {0, 0, 0, 1}, {224, 1, 1, 1}, {172, 31, 5, 230}} {
		f := seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, src, seedtest.SNAT,
			seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 40000, Payload: []byte("a")})
		wantDrop(t, h.run(flow.External, f), DropMartianSource)
	}
	// An ordinary address next to them still forwards.
	wantTX(t, h.run(flow.Underlay, egressFrom(t, vm, net.IP{198, 51, 100, 77}, udpProbe)), flow.External)
	if n := len(conns(h, 6)); n != 1 {
		t.Fatalf("%d connections in the DNAT zone, want only the ordinary one", n)
	}
}

// TestUDPLengthChecked: a UDP length of 0 or past the IP payload is a
// malformed datagram, dropped and counted.
func TestUDPLengthChecked(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	for _, ulen := range []uint16{0, 7, 200} {
		f := seedtest.Egress(t, udpProbe)
		binary.BigEndian.PutUint16(f[innerIPOff+20+4:], ulen)
		seedtest.FixOuterUDP(f)
		wantDrop(t, h.run(flow.Underlay, f), DropMalformed)
	}
	if got := h.pl.Stats().Drops[DropMalformed]; got != 3 {
		t.Fatalf("malformed drops %d, want 3", got)
	}
}

// TestGeneveOnlyFromKnownChassis: Geneve is accepted only from the VTEP of
// a known chassis, as OVS accepts tunnel packets only from a configured
// remote, also for a flow the cache already holds.
func TestGeneveOnlyFromKnownChassis(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	inner := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, udpProbe)
	stranger := net.IP{172, 31, 1, 99}
	spoofed := seedtest.Geneve(t, stranger, seedtest.VTEP, 1, 1, 2, inner)
	wantDrop(t, h.run(flow.Underlay, spoofed), DropGeneveSource)

	eg := seedtest.Egress(t, udpProbe)
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	cacheProbe(t, h, eg)
	wantDrop(t, h.run(flow.Underlay, spoofed), DropGeneveSource)
	if got := h.pl.Stats().Drops[DropGeneveSource]; got != 2 {
		t.Fatalf("geneve-unknown-source drops %d, want 2", got)
	}
}

// TestGeneveOuterChecksum: a present, wrong outer UDP checksum is dropped
// (also on a cached flow); an absent one (0) is allowed over IPv4.
func TestGeneveOuterChecksum(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	eg := seedtest.Egress(t, udpProbe)
	bad := append([]byte(nil), eg...)
	bad[40] ^= 0x11
	wantDrop(t, h.run(flow.Underlay, bad), DropGeneveChecksum)
	none := append([]byte(nil), eg...)
	binary.BigEndian.PutUint16(none[40:], 0)
	wantTX(t, h.run(flow.Underlay, none), flow.External)
	cacheProbe(t, h, eg)
	wantDrop(t, h.run(flow.Underlay, bad), DropGeneveChecksum)
}

// TestGeneveOutportChecked: only OVN's pipeline sends Geneve to the
// gateway, always with its option naming the gateway router's join port
// as outport; a frame without the option or with another outport is
// dropped, also on a cached flow, unless geneve.check_outport is false.
func TestGeneveOutportChecked(t *testing.T) {
	inner := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, udpProbe)
	wrong := seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 7, inner)
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	wantDrop(t, h.run(flow.Underlay, wrong), DropGeneveOutport)

	eg := seedtest.Egress(t, udpProbe)
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	cacheProbe(t, h, eg)
	wantDrop(t, h.run(flow.Underlay, wrong), DropGeneveOutport)

	// Turned off, the router is chosen by VNI and inner MAC alone.
	h.topo.CheckOutport = false
	if err := h.pl.SetTopology(h.topo); err != nil {
		t.Fatal(err)
	}
	wantTX(t, h.run(flow.Underlay, wrong), flow.External)
}
