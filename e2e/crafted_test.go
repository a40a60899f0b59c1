package e2e

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

const (
	craftExtPort = 7012
	craftVMPort  = 40012
)

// ipv4Csum rewrites the header checksum of the IPv4 header at ip.
func ipv4Csum(ip []byte) {
	hl := int(ip[0]&0xf) * 4
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], ^seedtest.OnesSum(ip[:hl], 0))
}

// vlanTag inserts an 802.1Q tag (VLAN 100) after the MAC addresses.
func vlanTag(f []byte) []byte {
	return append(append(append([]byte{}, f[:12]...), 0x81, 0x00, 0x00, 0x64), f[12:]...)
}

// udpTo reports whether frame is untagged IPv4/UDP to port.
func udpTo(frame []byte, port uint16) bool {
	if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 || frame[23] != 17 {
		return false
	}
	l4 := frame[14+int(frame[14]&0xf)*4:]
	return len(l4) >= 4 && binary.BigEndian.Uint16(l4[2:]) == port
}

// capture reads frames on ps until one that match accepts (true) or d
// passes (false).
func capture(ps *lab.PacketSocket, d time.Duration, match func([]byte, bool) bool) ([]byte, bool) {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n, out, err := ps.Read(buf, 50*time.Millisecond)
		if err != nil {
			continue
		}
		if match(buf[:n], out) {
			return append([]byte(nil), buf[:n]...), true
		}
	}
	return nil, false
}

// TestCraftedFrames: issue 10's bugs 2 (Geneve from an unknown source, a
// wrong outer UDP checksum), 3 (a bad inner IPv4 checksum, an 802.1Q tag),
// 4 (martian source) and item 12 (a foreign Geneve outport), plus TTL
// expiry, on the wire: real frames of an offloaded UDP flow, captured on
// the hypervisor's underlay veth and the external host's veth, are
// altered and sent again on those veths. For each, nothing of it comes
// out on the far side, the software drop counter of its reason moves,
// and, where the frame still matches the offloaded flow, so does the fast
// path's punt of the same name. The unaltered frame, sent the same way,
// does come out, by the fast path: the injection itself works.
func TestCraftedFrames(t *testing.T) {
	g := startGateway(t)
	a := g.addrs
	var srv, cli *net.UDPConn
	if err := g.lab.Do("ext", func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: craftExtPort})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := g.lab.Do("vm", func() (err error) {
		cli, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: craftVMPort}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: craftExtPort})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	under, err := g.lab.OpenPacketSocket("hv", lab.HVUnderlayIface)
	if err != nil {
		t.Fatal(err)
	}
	defer under.Close()
	extPS, err := g.lab.OpenPacketSocket("ext", a.ExtIface)
	if err != nil {
		t.Fatal(err)
	}
	defer extPS.Close()
	vmPS, err := g.lab.OpenPacketSocket("vm", lab.VMIface)
	if err != nil {
		t.Fatal(err)
	}
	defer vmPS.Close()

	// Establish the flow and wait until both directions take the fast path.
	payload := bytes.Repeat([]byte("crafted!"), 4)
	var peer *net.UDPAddr
	buf := make([]byte, 2048)
	waitFor(t, 15*time.Second, func() bool {
		fp := g.fastPathStats()
		cli.Write(payload)
		srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, from, err := srv.ReadFromUDP(buf); err == nil {
			peer = from
		}
		if peer == nil {
			return false
		}
		srv.WriteToUDP(payload, peer)
		cli.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		cli.Read(buf)
		fp2 := g.fastPathStats()
		return fp2.HitEgress.Packets > fp.HitEgress.Packets && fp2.HitIngress.Packets > fp.HitIngress.Packets
	}, "the flow to take the fast path both ways")

	// One real frame each way, as they cross the veths.
	cli.Write(payload)
	geneve, ok := capture(under, 3*time.Second, func(f []byte, out bool) bool {
		return out && udpTo(f, lab.GenevePort) && bytes.Contains(f, payload)
	})
	if !ok {
		t.Fatal("no Geneve frame of the flow seen leaving the hypervisor")
	}
	// Let each frame arrive before anything is counted.
	srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := srv.ReadFromUDP(buf); err != nil {
		t.Fatalf("the captured egress datagram did not arrive: %v", err)
	}
	srv.WriteToUDP(payload, peer)
	reply, ok := capture(extPS, 3*time.Second, func(f []byte, out bool) bool { return out && udpTo(f, uint16(peer.Port)) })
	if !ok {
		t.Fatal("no reply frame of the flow seen leaving ext")
	}
	cli.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := cli.Read(buf); err != nil {
		t.Fatalf("the captured reply did not arrive: %v", err)
	}
	innerIP := 42 + 8 + int(geneve[42]&0x3f)*4 + 14
	if geneve[50] != 0x01 || geneve[51] != 0x02 || geneve[52] != 0x80 {
		t.Fatalf("the first Geneve option is not OVN's: % x", geneve[42:58])
	}

	type craft struct {
		name   string
		side   string // "underlay" or "external"
		frame  func() []byte
		drop   string          // software drop reason that must move ("" for none)
		punt   *bpf.PuntReason // fast-path punt that must move (nil: the frame misses the flow)
		icmp   bool            // software answers with an ICMP error instead
		passes bool            // the control: it must come out
	}
	p := func(r bpf.PuntReason) *bpf.PuntReason { return &r }
	eg := func(f func(b []byte)) func() []byte {
		return func() []byte {
			b := bytes.Clone(geneve)
			f(b)
			seedtest.FixOuterUDP(b)
			return b
		}
	}
	in := func(f func(b []byte)) func() []byte {
		return func() []byte { b := bytes.Clone(reply); f(b); return b }
	}
	crafts := []craft{
		{name: "geneve control", side: "underlay", frame: eg(func([]byte) {}), passes: true},
		{name: "bug 2: unknown VTEP", side: "underlay", drop: "geneve-unknown-source", punt: p(bpf.PuntUnknownVTEP),
			frame: eg(func(b []byte) { b[29] = 99; ipv4Csum(b[14:34]) })},
		{name: "bug 2: outer udp checksum", side: "underlay", drop: "geneve-checksum", punt: p(bpf.PuntGeneveChecksum),
			frame: func() []byte {
				b := bytes.Clone(geneve)
				b[len(b)-1] ^= 0x40 // payload only; the outer sum no longer holds
				return b
			}},
		{name: "bug 3: inner ip checksum", side: "underlay", drop: "ip-checksum", punt: p(bpf.PuntIPChecksum),
			frame: eg(func(b []byte) { b[innerIP+10] ^= 0x5a })},
		{name: "bug 3: outer vlan tag", side: "underlay", drop: "vlan-tagged", punt: p(bpf.PuntVLAN),
			frame: func() []byte { return vlanTag(geneve) }},
		{name: "bug 4: martian source", side: "underlay", drop: "martian-source",
			frame: eg(func(b []byte) { copy(b[innerIP+12:], []byte{127, 0, 0, 1}); ipv4Csum(b[innerIP:]) })},
		{name: "item 12: foreign outport", side: "underlay", drop: "geneve-outport", punt: p(bpf.PuntGeneveOutport),
			frame: eg(func(b []byte) { binary.BigEndian.PutUint16(b[56:], 3) })},
		{name: "ttl 1 egress", side: "underlay", punt: p(bpf.PuntTTL), icmp: true,
			frame: eg(func(b []byte) { b[innerIP+8] = 1; ipv4Csum(b[innerIP:]) })},

		{name: "reply control", side: "external", frame: in(func([]byte) {}), passes: true},
		{name: "bug 3: ip checksum", side: "external", drop: "ip-checksum", punt: p(bpf.PuntIPChecksum),
			frame: in(func(b []byte) { b[14+10] ^= 0x5a })},
		{name: "bug 3: vlan tag", side: "external", drop: "vlan-tagged", punt: p(bpf.PuntVLAN),
			frame: func() []byte { return vlanTag(reply) }},
		{name: "bug 4: martian source", side: "external", drop: "martian-source",
			frame: in(func(b []byte) { copy(b[14+12:], []byte{240, 0, 0, 1}); ipv4Csum(b[14:34]) })},
		{name: "ttl 1 ingress", side: "external", punt: p(bpf.PuntTTL), icmp: true,
			frame: in(func(b []byte) { b[14+8] = 1; ipv4Csum(b[14:34]) })},
	}
	for _, c := range crafts {
		t.Run(c.side+"/"+c.name, func(t *testing.T) {
			inj, far, port := under, extPS, uint16(craftExtPort)
			if c.side == "external" {
				inj, far, port = extPS, vmPS, craftVMPort
			}
			frame := c.frame()
			// Forget what the far side saw before (the flow's own frames).
			capture(far, 50*time.Millisecond, func([]byte, bool) bool { return false })
			var dropBefore uint64
			if c.drop != "" {
				dropBefore = g.drops(c.drop)
			}
			fpBefore, icmpBefore := g.fastPathStats(), g.icmpSent()
			if err := inj.Write(frame); err != nil {
				t.Fatal(err)
			}
			window := 400 * time.Millisecond
			if c.passes {
				window = 3 * time.Second
			}
			out, seen := capture(far, window, func(f []byte, outgoing bool) bool { return !outgoing && udpTo(f, port) })
			fp := g.fastPathStats()
			switch {
			case c.passes && !seen:
				t.Fatalf("the unaltered frame did not come out; fast path %+v", fp)
			case c.passes:
				hits := fp.HitEgress.Packets - fpBefore.HitEgress.Packets + fp.HitIngress.Packets - fpBefore.HitIngress.Packets
				if hits != 1 {
					t.Fatalf("the unaltered frame came out, but not by the fast path (hits moved by %d)", hits)
				}
				return
			case seen:
				t.Fatalf("the altered frame came out on the far side: % x", out)
			}
			if c.drop != "" {
				if d := g.drops(c.drop) - dropBefore; d != 1 {
					t.Fatalf("drops[%s] moved by %d, want 1", c.drop, d)
				}
			}
			if c.punt != nil {
				if d := fp.Punts[*c.punt].Packets - fpBefore.Punts[*c.punt].Packets; d != 1 {
					t.Fatalf("fast path punts[%s] moved by %d, want 1: %+v", *c.punt, d, fp)
				}
			} else if d := fp.Miss.Packets - fpBefore.Miss.Packets; d != 1 {
				t.Fatalf("fast path misses moved by %d, want 1 (the altered key matches no flow)", d)
			}
			if c.icmp {
				waitFor(t, 2*time.Second, func() bool { return g.icmpSent() > icmpBefore }, "the router's time exceeded")
			}
		})
	}
}
