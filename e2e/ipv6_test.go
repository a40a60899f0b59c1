// IPv6 end to end, issue 13's "Must show", on the dual-stack lab
// (bench/lab Options.DualStack: the VMs' unique-local prefix SNATed by
// NAT66, vm2 behind a dnat_and_snat IPv6 address, vmr's global prefix routed
// without NAT) with xgw forwarding, over an IPv4 underlay (TestIPv6) and over
// an IPv6 one (TestIPv6Underlay6: the chassis' encap IP and xgw's vtep_ip6
// are IPv6). Offload is on: the checks that say so need the XDP fast path
// to carry the flows.
package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/bench/lab"
	"golang.org/x/sys/unix"
)

// TestIPv6 runs the IPv6 checks over the lab's IPv4 underlay.
func TestIPv6(t *testing.T) { ipv6Suite(t, false) }

// TestIPv6Underlay6 runs them with Geneve over IPv6.
func TestIPv6Underlay6(t *testing.T) { ipv6Suite(t, true) }

// ipv6Suite is the list, in order; each subtest leaves the gateway
// as it found it (offload on: offloaded flows must carry the traffic).
func ipv6Suite(t *testing.T, underlay6 bool) {
	g := startGatewayWith(t, gwOptions{vms: 2, dualStack: true, underlay6: underlay6})
	a := g.addrs
	v6 := a.V6
	vm, vmIP := "vm", v6.VMIPs[0]
	ext := v6.ExtIP

	t.Run("ping6-nat66", func(t *testing.T) {
		ps, err := g.lab.OpenPacketSocket("ext", lab.ExtIface)
		if err != nil {
			t.Fatal(err)
		}
		defer ps.Close()
		g.run(vm, "ping", "-6", "-c", "2", "-W", "1", ext.String()) // next hop resolution may cost the first
		out, err := g.run(vm, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", ext.String())
		if err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping -6 VM -> ext through OVS and xgw: %v\n%s", err, out)
		}
		// The external host saw the echo requests from the NAT66 address.
		g.run(vm, "ping", "-6", "-c", "1", "-W", "2", ext.String())
		f, ok := capture(ps, 3*time.Second, func(b []byte, out bool) bool {
			ip, ic := icmp6Of(b)
			return !out && ip != nil && ic != nil && ic.TypeCode.Type() == layers.ICMPv6TypeEchoRequest
		})
		if !ok {
			t.Fatal("no echo request seen on ext0")
		}
		if ip, _ := icmp6Of(f); ip.SrcIP.String() != v6.SNATIP.String() || ip.HopLimit != 62 {
			t.Fatalf("ext saw the echo request from %s hop limit %d, want the NAT66 address %s, 62 (VM 64, DR 63, GR 62)",
				ip.SrcIP, ip.HopLimit, v6.SNATIP)
		}
	})

	t.Run("udp-request-response", func(t *testing.T) {
		before := g.fp()
		client := netip.AddrPortFrom(vmIP, 40607)
		server := netip.AddrPortFrom(ext, 7607)
		ex, err := g.lab.UDPRequestResponseVia(vm, client, "ext", server, server, 20, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Answered < 19 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != v6.SNATIP {
			t.Fatalf("UDP over IPv6: %v; want >= 19/20 answered, the server seeing only %s", ex, v6.SNATIP)
		}
		// Answered, the connection is established and offloaded: the
		// same flow's next exchanges take the fast path.
		waitFor(t, 5*time.Second, func() bool { return g.fp().offloaded > before.offloaded }, "the answered IPv6 UDP flow to be offloaded")
		mid := g.fp()
		if ex, err = g.lab.UDPRequestResponseVia(vm, client, "ext", server, server, 50, time.Second); err != nil || ex.Answered < 48 {
			t.Fatalf("UDP over IPv6, offloaded: %v %v", ex, err)
		}
		if hits := g.fp().hits - mid.hits; hits < 90 {
			t.Fatalf("fast-path hits rose by %d over 50 offloaded exchanges (100 packets)", hits)
		}
	})

	t.Run("udp-one-way", func(t *testing.T) {
		// The manager promotes a never-answered flow once it has seen
		// onewayN packets and its next pass runs (every 20 ms): the
		// first 2*onewayN datagrams are software's, then the flow is the
		// fast path's. 500 datagrams in one go pass in about 25 ms, so
		// the test waits for the promotion before it counts.
		before := g.fp()
		server := netip.AddrPortFrom(ext, 7609)
		ex, err := g.lab.UDPOneWay(vm, vmIP, 40609, "ext", server, 2*onewayN, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Answered < 2*onewayN*95/100 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != v6.SNATIP {
			t.Fatalf("one-way UDP: %v; want >= 95%% delivered from %s", ex, v6.SNATIP)
		}
		waitFor(t, 5*time.Second, func() bool { return g.fp().oneway > before.oneway }, "the never-answered IPv6 flow to be promoted")
		mid := g.fp()
		const n = 500
		if ex, err = g.lab.UDPOneWay(vm, vmIP, 40609, "ext", server, n, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		after := g.fp()
		t.Logf("one-way UDP over IPv6, promoted: %v; fast path hits +%d", ex, after.hits-mid.hits)
		if ex.Answered < n*95/100 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != v6.SNATIP {
			t.Fatalf("one-way UDP, promoted: %v; want >= 95%% delivered from %s", ex, v6.SNATIP)
		}
		// Past the promotion the flow's packets are the fast path's.
		if hits := after.hits - mid.hits; hits < uint64(ex.Answered) {
			t.Fatalf("fast-path hits +%d for %d one-way datagrams delivered after the promotion", hits, ex.Answered)
		}
	})

	t.Run("dumps-and-stats", func(t *testing.T) { dumpsAndStats6(t, g, vm, vmIP, ext, v6.SNATIP) })

	iperf := func(t *testing.T, role, wantPeer string) {
		srv, err := g.lab.StartIperfServerAt(ext)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		for _, reverse := range []bool{false, true} {
			before := g.fp()
			res := g.iperf3From(t, role, ext.String(), 3, reverse)
			hits := g.fp().hits - before.hits
			t.Logf("iperf3 -6 from %s reverse=%v: %.1f Mbit/s, %.1f MB, server saw %s, fast-path hits %d", role, reverse, res.Mbps, res.MB, res.Peer, hits)
			if res.Mbps < 20 {
				t.Fatalf("iperf3 -6 reverse=%v: %.3f Mbit/s", reverse, res.Mbps)
			}
			if res.Peer != wantPeer {
				t.Fatalf("server saw %q, want %s\n%s", res.Peer, wantPeer, res.ServerText)
			}
			// The bulk of an established TCP connection is offloaded.
			if segs := res.MB * 1e6 / 1500; float64(hits) < segs/2 {
				t.Fatalf("fast-path hits %d for ~%.0f segments: the established IPv6 TCP connection was not offloaded", hits, segs)
			}
		}
	}
	t.Run("iperf3-nat66", func(t *testing.T) { iperf(t, vm, v6.SNATIP.String()) })
	t.Run("iperf3-routed", func(t *testing.T) { iperf(t, lab.RoutedVMRole, v6.RoutedIP.String()) })

	t.Run("packet-too-big", func(t *testing.T) { packetTooBig(t, g) })

	t.Run("dnat-and-snat-by-nd", func(t *testing.T) {
		// ext has no route or neighbour entry for the dnat_and_snat
		// address, which is on its link: only the gateway answering
		// neighbour solicitations for it lets ext reach vm2.
		dnat := v6.DNATIP
		if out, _ := g.run("ext", "ip", "-6", "neigh", "show", dnat.String()); strings.Contains(out, "PERMANENT") {
			t.Fatalf("ext has a static neighbour for %s: %s", dnat, out)
		}
		vm2 := a.VMs[v6.DNATVM]
		vm2IP := v6.VMIPs[v6.DNATVM]
		ex, err := g.lab.UDPRequestResponseVia("ext", netip.AddrPortFrom(ext, 0), vm2.Role,
			netip.AddrPortFrom(vm2IP, 7611), netip.AddrPortFrom(dnat, 7611), 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Answered < 9 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != ext {
			t.Fatalf("ext -> %s (dnat_and_snat to %s): %v; want >= 9/10 answered, vm2 seeing %s unchanged", dnat, vm2IP, ex, ext)
		}
		out, _ := g.run("ext", "ip", "-6", "neigh", "show", dnat.String())
		if !strings.Contains(out, strings.ToLower(a.GWExternalMAC.String())) {
			t.Fatalf("ext's neighbour entry for %s: %q, want the GR's external MAC %s (learnt by ND)", dnat, out, a.GWExternalMAC)
		}
		// vm2's own traffic leaves from its dnat_and_snat address.
		ex, err = g.lab.UDPRequestResponse(vm2.Role, vm2IP, "ext", netip.AddrPortFrom(ext, 7612), 10, time.Second)
		if err != nil || ex.Answered < 9 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != dnat {
			t.Fatalf("vm2 -> ext: %v %v; want the server to see %s", ex, err, dnat)
		}
	})

	// Reloads (last: they change the running configuration, and put the
	// original back): a NAT66 address and a routed prefix that a reload
	// adds are steered to xgw by xdp_gw, a routed prefix it drops is not.
	reloads := 0
	reload := func(t *testing.T, content string) {
		t.Helper()
		g.rewriteConfig(t, content)
		g.hup(t)
		reloads++
		g.waitReloads(t, float64(reloads), 0)
	}
	t.Run("reload-nat66", func(t *testing.T) {
		orig, err := os.ReadFile(g.config)
		if err != nil {
			t.Fatal(err)
		}
		defer reload(t, string(orig))
		next := v6.SNATIP.Next()
		reload(t, replaceOnce(t, string(orig), v6.SNATIP.String(), next.String()))
		server := netip.AddrPortFrom(ext, 7615)
		ex, err := g.lab.UDPRequestResponseVia(vm, netip.AddrPortFrom(vmIP, 40615), "ext", server, server, 20, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Answered < 19 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != next {
			t.Fatalf("after the reload to NAT66 address %s: %v; want >= 19/20 answered, the server seeing only %s", next, ex, next)
		}
	})
	t.Run("reload-routed", func(t *testing.T) {
		orig, err := os.ReadFile(g.config)
		if err != nil {
			t.Fatal(err)
		}
		defer reload(t, string(orig))
		routed := v6.RoutedPrefix.String()
		a := v6.RoutedPrefix.Addr().As16()
		a[5]++ // 2001:db8:201::/64: no VM there
		other := netip.PrefixFrom(netip.AddrFrom16(a), v6.RoutedPrefix.Bits()).String()
		vmr := v6.RoutedIP
		exchange := func(port uint16, n int) lab.Exchange {
			t.Helper()
			ex, err := g.lab.UDPRequestResponse(lab.RoutedVMRole, vmr, "ext", netip.AddrPortFrom(ext, port), n, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return ex
		}
		// The route to vmr's prefix gone: its replies are no longer
		// steered to xgw (xdp_gw passes them: the gateway's kernel has
		// no route for them, nothing is answered).
		reload(t, replaceOnce(t, string(orig), routed, other))
		before := g.xdpRouted()
		if ex := exchange(7616, 3); ex.Answered != 0 {
			t.Fatalf("vmr -> ext with its prefix no longer routed by gr1: %v; want nothing answered", ex)
		}
		if n := g.xdpRouted() - before; n != 0 {
			t.Fatalf("%d packets steered as routed IPv6 after the reload dropped %s", n, routed)
		}
		// Back: steered again, answered again.
		reload(t, string(orig))
		before = g.xdpRouted()
		if ex := exchange(7617, 10); ex.Answered < 9 || len(ex.SeenFrom) != 1 || ex.SeenFrom[0] != vmr {
			t.Fatalf("vmr -> ext with its prefix routed again: %v; want >= 9/10 answered, the server seeing %s unchanged", ex, vmr)
		}
		if n := g.xdpRouted() - before; n < 9 {
			t.Fatalf("%d packets steered as routed IPv6 for 9+ replies", n)
		}
	})
}

// xdpRouted sums xdp_gw's RedirectRouted over the interfaces: external
// IPv6 steered to xgw by a routed prefix.
func (g *gateway) xdpRouted() uint64 {
	g.t.Helper()
	out, err := g.xgw("stats", "--json")
	if err != nil {
		g.t.Fatal(err)
	}
	var s struct {
		XDP []struct {
			Stats struct {
				RedirectRouted struct{ Packets uint64 }
			} `json:"stats"`
		} `json:"xdp"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		g.t.Fatalf("stats json: %v", err)
	}
	var n uint64
	for _, x := range s.XDP {
		n += x.Stats.RedirectRouted.Packets
	}
	return n
}

// icmp6Of decodes an Ethernet frame's IPv6 and ICMPv6 layers (nil if not).
func icmp6Of(b []byte) (*layers.IPv6, *layers.ICMPv6) {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	return ip, ic
}

// packetTooBig: a UDP flow from the VM through NAT66; ext answers one of
// its datagrams with an ICMPv6 packet too big (as a router on the way
// would), addressed to the NAT66 address and quoting the datagram as ext
// saw it. The VM must receive it translated: to its own address, the quoted
// header's source rewritten back to the VM's address and port, checksums
// right (gopacket verifies the ICMPv6 one against the pseudo header).
func packetTooBig(t *testing.T, g *gateway) {
	a := g.addrs
	v6 := a.V6
	vmIP, ext := v6.VMIPs[0], v6.ExtIP
	const sport, dport, mtu = 40613, 7613, 1280
	var srv, cli *net.UDPConn
	if err := g.lab.Do("ext", func() (err error) {
		srv, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ext, dport)))
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := g.lab.Do("vm", func() (err error) {
		cli, err = net.DialUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(vmIP, sport)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(ext, dport)))
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	payload := []byte("too big for the next link, in a real network")
	var seen netip.AddrPort
	buf := make([]byte, 2048)
	for end := time.Now().Add(5 * time.Second); !seen.IsValid() && time.Now().Before(end); {
		cli.Write(payload)
		srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, from, err := srv.ReadFromUDPAddrPort(buf); err == nil {
			seen = from
		}
	}
	if !seen.IsValid() || seen.Addr().Unmap() != v6.SNATIP {
		t.Fatalf("ext saw the VM's datagram from %v, want the NAT66 address %s", seen, v6.SNATIP)
	}
	// The quoted packet: what ext received (NAT66 address and port -> ext).
	qip := &layers.IPv6{Version: 6, HopLimit: 62, NextHeader: layers.IPProtocolUDP,
		SrcIP: seen.Addr().AsSlice(), DstIP: ext.AsSlice()}
	qudp := &layers.UDP{SrcPort: layers.UDPPort(seen.Port()), DstPort: dport}
	qudp.SetNetworkLayerForChecksum(qip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		qip, qudp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	msg := append([]byte{2, 0, 0, 0, 0, 0, mtu >> 8, mtu & 0xff}, sb.Bytes()...) // type 2, code 0, checksum by the kernel, MTU
	ps, err := g.lab.OpenPacketSocket("vm", lab.VMIface)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	var fd int
	if err := g.lab.Do("ext", func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet6{Addr: v6.SNATIP.As16()}
	var got []byte
	for end := time.Now().Add(5 * time.Second); got == nil && time.Now().Before(end); {
		if err := unix.Sendto(fd, msg, 0, to); err != nil {
			t.Fatalf("send packet too big from ext: %v", err)
		}
		got, _ = capture(ps, 300*time.Millisecond, func(b []byte, out bool) bool {
			_, ic := icmp6Of(b)
			return !out && ic != nil && ic.TypeCode.Type() == layers.ICMPv6TypePacketTooBig
		})
	}
	if got == nil {
		t.Fatalf("the packet too big sent to %s never reached the VM", v6.SNATIP)
	}
	p := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
	ip, ic := icmp6Of(got)
	if ip.SrcIP.String() != ext.String() || ip.DstIP.String() != vmIP.String() {
		t.Fatalf("packet too big %s -> %s, want %s -> %s", ip.SrcIP, ip.DstIP, ext, vmIP)
	}
	// Checksum: recompute over the pseudo header and compare.
	want := icmp6Checksum(ip, append(append([]byte(nil), ic.Contents...), ic.Payload...))
	if want != 0 {
		t.Errorf("ICMPv6 checksum %#04x does not verify", ic.Checksum)
	}
	body := ic.Payload // MTU (4) + the quoted packet
	if len(body) < 4+40+8 {
		t.Fatalf("packet too big quotes %d bytes: %v", len(body), p)
	}
	if m := uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3]); m != mtu {
		t.Errorf("MTU %d, want %d", m, mtu)
	}
	q := gopacket.NewPacket(body[4:], layers.LayerTypeIPv6, gopacket.Default)
	qi, _ := q.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	qu, _ := q.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if qi == nil || qu == nil {
		t.Fatalf("quoted packet not IPv6/UDP: %v", q)
	}
	if qi.SrcIP.String() != vmIP.String() || int(qu.SrcPort) != sport || qi.DstIP.String() != ext.String() || int(qu.DstPort) != dport {
		t.Fatalf("quoted %s:%d -> %s:%d, want the VM's own %s:%d -> %s:%d",
			qi.SrcIP, qu.SrcPort, qi.DstIP, qu.DstPort, vmIP, sport, ext, dport)
	}
}

// icmp6Checksum folds the one's-complement sum of the IPv6 pseudo header
// and the ICMPv6 message; 0 means the message's checksum verifies.
func icmp6Checksum(ip *layers.IPv6, msg []byte) uint16 {
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	add(ip.SrcIP.To16())
	add(ip.DstIP.To16())
	s += uint32(len(msg)) + uint32(layers.IPProtocolICMPv6)
	add(msg)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// dumpsAndStats6: a VM's one-way IPv6 flow shows in dump-conntrack in
// OVS's format (both zones, the SNAT zone's reply to the NAT66 address),
// in dump-flows as IPv6, and in the stats' IPv6 egress counters (the
// software pipeline's and the fast path's together cover what was sent).
func dumpsAndStats6(t *testing.T, g *gateway, vm string, vmIP, ext, snat netip.Addr) {
	egress6 := func() (sw, fp uint64) {
		out, err := g.xgw("stats", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Pipeline struct {
				Forwarded map[string]map[string]struct{ Packets uint64 } `json:"forwarded"`
			} `json:"pipeline"`
			XDP []struct {
				Stats struct {
					FastPath struct{ HitEgress6 struct{ Packets uint64 } }
				} `json:"stats"`
			} `json:"xdp"`
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("stats json: %v", err)
		}
		if len(s.XDP) > 0 {
			fp = s.XDP[0].Stats.FastPath.HitEgress6.Packets
		}
		return s.Pipeline.Forwarded["ipv6"]["egress"].Packets, fp
	}
	g.run(vm, "ping", "-6", "-c", "2", "-W", "1", ext.String()) // the external next hop resolved
	sw0, fp0 := egress6()
	const n = 20
	ex, err := g.lab.UDPOneWay(vm, vmIP, 40613, "ext", netip.AddrPortFrom(ext, 7613), n, 5*time.Second)
	if err != nil || ex.Answered < n*9/10 {
		t.Fatalf("one-way UDP over IPv6: %v %v", ex, err)
	}
	sw1, fp1 := egress6()
	t.Logf("IPv6 egress: software +%d, fast path +%d, delivered %d", sw1-sw0, fp1-fp0, ex.Answered)
	if (sw1-sw0)+(fp1-fp0) < uint64(ex.Answered) || sw1 == sw0 {
		t.Errorf("IPv6 egress counters rose by software %d + fast path %d for %d delivered", sw1-sw0, fp1-fp0, ex.Answered)
	}
	out, err := g.xgw("dump-conntrack")
	if err != nil {
		t.Fatal(err)
	}
	orig := fmt.Sprintf("udp,orig=(src=%s,dst=%s,sport=40613,dport=7613),reply=(src=%s,dst=", vmIP, ext, ext)
	if c := strings.Count(out, orig); c != 2 || !strings.Contains(out, orig+snat.String()+",sport=7613,dport=") {
		t.Errorf("dump-conntrack: %d lines with %q (want 2: the DNAT and the SNAT zone, one replying to %s):\n%s", c, orig, snat, out)
	}
	flows, err := g.xgw("dump-flows")
	if err != nil {
		t.Fatal(err)
	}
	if m := fmt.Sprintf("eth_type(0x86dd),ipv6(src=%s,dst=%s,proto=17,frag=no),udp(src=40613,dst=7613)", vmIP, ext); !strings.Contains(flows, m) {
		t.Errorf("dump-flows lacks %q:\n%s", m, flows)
	}
}
