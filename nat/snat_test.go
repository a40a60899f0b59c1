package nat

import (
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

func TestNewSNATValidates(t *testing.T) {
	ext := []packet.IP4{snatIP}
	s, err := NewSNAT(mustPrefix("10.199.100.7/24"), ext, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.PortMin != DefaultPortMin || s.PortMax != DefaultPortMax {
		t.Errorf("default range = %d-%d", s.PortMin, s.PortMax)
	}
	if s.Logical != mustPrefix("10.199.100.0/24") {
		t.Errorf("logical not masked: %v", s.Logical)
	}
	ext[0] = routerIP
	if s.External[0] != snatIP {
		t.Error("External aliases the caller's slice")
	}
	bad := []struct {
		name     string
		prefix   string
		ext      []packet.IP4
		min, max uint16
	}{
		{"ipv6", "2001:db8::/64", []packet.IP4{snatIP}, 0, 0},
		{"no external", "10.0.0.0/8", nil, 0, 0},
		{"zero external", "10.0.0.0/8", []packet.IP4{{}}, 0, 0},
		{"min > max", "10.0.0.0/8", []packet.IP4{snatIP}, 2000, 1000},
		{"port 0", "10.0.0.0/8", []packet.IP4{snatIP}, 0, 1000},
	}
	for _, c := range bad {
		if _, err := NewSNAT(mustPrefix(c.prefix), c.ext, c.min, c.max); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestSNATMatches(t *testing.T) {
	s := mustSNAT(t, "10.199.100.0/24", 0, 0, snatIP)
	for ip, want := range map[string]bool{
		"10.199.100.10": true, "10.199.100.255": true, "10.199.101.10": false, "123.123.123.123": false,
	} {
		if got := s.Matches(packet.MustIP4(ip)); got != want {
			t.Errorf("Matches(%s) = %v", ip, got)
		}
	}
}

// The seed: 10.199.100.10:5000 -> 172.31.6.24:5201 leaves as
// 123.123.123.123:5000 when that is free.
func TestSNATKeepsPort(t *testing.T) {
	s := mustSNAT(t, "10.199.100.0/24", 0, 0, snatIP)
	for _, proto := range []uint8{packet.ProtoUDP, packet.ProtoTCP} {
		orig := tuple(vmIP, 5000, peerIP, 5201, proto, snatZone)
		reply, ok := s.ChooseReply(orig, noneTaken)
		want := tuple(peerIP, 5201, snatIP, 5000, proto, snatZone)
		if !ok || reply != want {
			t.Errorf("proto %d: reply = %v %v, want %v", proto, reply, ok, want)
		}
	}
}

func TestSNATProbesWhenTaken(t *testing.T) {
	s := mustSNAT(t, "10.199.100.0/24", 0, 0, snatIP)
	taken := takenSet{}
	seen := map[uint16]bool{}
	// Many hosts, same source port, same peer: only the first keeps it.
	for i := 0; i < 200; i++ {
		orig := tuple(packet.IP4{10, 199, 100, byte(i)}, 5000, peerIP, 5201, packet.ProtoUDP, snatZone)
		reply, ok := s.ChooseReply(orig, taken)
		if !ok {
			t.Fatalf("conn %d refused", i)
		}
		if reply.Src != peerIP || reply.SrcPort != 5201 || reply.Dst != snatIP || reply.Proto != packet.ProtoUDP || reply.Zone != snatZone {
			t.Fatalf("conn %d: reply %v is not orig reversed with the source translated", i, reply)
		}
		if (i == 0) != (reply.DstPort == 5000) {
			t.Errorf("conn %d got port %d", i, reply.DstPort)
		}
		if reply.DstPort < DefaultPortMin || seen[reply.DstPort] {
			t.Fatalf("conn %d: port %d out of range or reused", i, reply.DstPort)
		}
		seen[reply.DstPort] = true
		taken.commit(orig, reply)
	}
	// Another peer port is another tuple: the source port is kept again.
	orig := tuple(packet.IP4{10, 199, 100, 7}, 5000, peerIP, 5202, packet.ProtoUDP, snatZone)
	if reply, _ := s.ChooseReply(orig, taken); reply.DstPort != 5000 {
		t.Errorf("port not kept for a distinct peer port: %v", reply)
	}
	if s.Exhausted() != 0 {
		t.Errorf("Exhausted = %d", s.Exhausted())
	}
}

func TestSNATRangeAndExhaustion(t *testing.T) {
	const lo, hi = 2000, 2009
	s := mustSNAT(t, "10.0.0.0/8", lo, hi, snatIP)
	taken := takenSet{}
	seen := map[uint16]bool{}
	for i := 0; i < hi-lo+1; i++ {
		orig := tuple(packet.IP4{10, 0, 0, byte(i)}, 40000+uint16(i), peerIP, 53, packet.ProtoUDP, snatZone)
		reply, ok := s.ChooseReply(orig, taken)
		if !ok {
			t.Fatalf("conn %d refused with %d ports free", i, hi-lo+1-i)
		}
		if reply.DstPort < lo || reply.DstPort > hi || seen[reply.DstPort] {
			t.Fatalf("conn %d: port %d outside %d-%d or reused", i, reply.DstPort, lo, hi)
		}
		seen[reply.DstPort] = true
		taken.commit(orig, reply)
	}
	orig := tuple(packet.IP4{10, 0, 1, 1}, 2005, peerIP, 53, packet.ProtoUDP, snatZone)
	for i := 1; i <= 2; i++ {
		if reply, ok := s.ChooseReply(orig, taken); ok {
			t.Fatalf("full range handed out %v", reply)
		}
		if s.Exhausted() != uint64(i) {
			t.Errorf("Exhausted = %d, want %d", s.Exhausted(), i)
		}
	}
	// The same range is free towards another peer.
	orig.Dst = routerIP
	if _, ok := s.ChooseReply(orig, taken); !ok {
		t.Error("range is per peer tuple, not global")
	}
}

// Whatever the hashed start, the probe wraps and finds the one free port.
func TestSNATProbeWraps(t *testing.T) {
	const lo, hi = 100, 131
	for _, free := range []uint16{lo, lo + 1, 117, hi} {
		s := mustSNAT(t, "10.0.0.0/8", lo, hi, snatIP)
		for i := 0; i < 50; i++ {
			orig := tuple(packet.IP4{10, 1, 2, byte(i)}, 9000+uint16(i), peerIP, 80, packet.ProtoTCP, 0)
			reply, ok := s.ChooseReply(orig, takenFunc(func(c conntrack.Tuple) bool { return c.DstPort != free }))
			if !ok || reply.DstPort != free {
				t.Fatalf("free port %d: got %v %v", free, reply, ok)
			}
		}
	}
}

func TestSNATOutOfRangePortNotKept(t *testing.T) {
	s := mustSNAT(t, "10.0.0.0/8", 30000, 30099, snatIP)
	reply, ok := s.ChooseReply(tuple(vmIP, 5000, peerIP, 5201, packet.ProtoTCP, 0), noneTaken)
	if !ok || reply.DstPort < 30000 || reply.DstPort > 30099 {
		t.Errorf("reply %v %v", reply, ok)
	}
}

func TestSNATSpreadsAndSticksExternalIPs(t *testing.T) {
	ext := []packet.IP4{{203, 0, 113, 1}, {203, 0, 113, 2}, {203, 0, 113, 3}, {203, 0, 113, 4}}
	s := mustSNAT(t, "10.0.0.0/8", 0, 0, ext...)
	count := map[packet.IP4]int{}
	const hosts = 2000
	for i := 0; i < hosts; i++ {
		src := packet.IP4FromUint32(0x0a000000 + uint32(i))
		var first packet.IP4
		for j := 0; j < 5; j++ { // different conns of one host
			orig := tuple(src, uint16(1000+j), peerIP, uint16(80+j), packet.ProtoTCP, 0)
			reply, ok := s.ChooseReply(orig, noneTaken)
			if !ok {
				t.Fatal("refused")
			}
			if j == 0 {
				first = reply.Dst
				count[first]++
			} else if reply.Dst != first {
				t.Fatalf("host %v moved from %v to %v", src, first, reply.Dst)
			}
		}
	}
	for _, ip := range ext {
		if c := count[ip]; c < hosts/4*7/10 || c > hosts/4*13/10 {
			t.Errorf("%v got %d of %d hosts: %v", ip, c, hosts, count)
		}
	}
}

func TestSNATFallsBackToOtherIPs(t *testing.T) {
	ext := []packet.IP4{{203, 0, 113, 1}, {203, 0, 113, 2}, {203, 0, 113, 3}}
	s := mustSNAT(t, "10.0.0.0/8", 5000, 5003, ext...)
	orig := tuple(vmIP, 5000, peerIP, 5201, packet.ProtoUDP, snatZone)
	home, _ := s.ChooseReply(orig, noneTaken)
	full := map[packet.IP4]bool{home.Dst: true}
	reply, ok := s.ChooseReply(orig, takenFunc(func(c conntrack.Tuple) bool { return full[c.Dst] }))
	if !ok || reply.Dst == home.Dst || reply.DstPort != 5000 {
		t.Fatalf("home %v full: got %v %v", home.Dst, reply, ok)
	}
	full[reply.Dst] = true
	last, ok := s.ChooseReply(orig, takenFunc(func(c conntrack.Tuple) bool { return full[c.Dst] }))
	if !ok || full[last.Dst] {
		t.Fatalf("third address not used: %v %v", last, ok)
	}
	full[last.Dst] = true
	if _, ok := s.ChooseReply(orig, takenFunc(func(c conntrack.Tuple) bool { return full[c.Dst] })); ok || s.Exhausted() != 1 {
		t.Errorf("all full: ok=%v exhausted=%d", ok, s.Exhausted())
	}
}

func TestSNATICMPEchoID(t *testing.T) {
	s := mustSNAT(t, "10.0.0.0/8", 0, 0, snatIP)
	orig := tuple(vmIP, 4242, peerIP, 4242, packet.ProtoICMP, snatZone)
	reply, ok := s.ChooseReply(orig, noneTaken)
	if want := tuple(peerIP, 4242, snatIP, 4242, packet.ProtoICMP, snatZone); !ok || reply != want {
		t.Errorf("id not kept: %v, want %v", reply, want)
	}
	taken := takenSet{}
	taken.commit(orig, reply)
	other := orig
	other.Src = packet.IP4{10, 0, 0, 99}
	r2, ok := s.ChooseReply(other, taken)
	if !ok || r2.SrcPort != r2.DstPort || r2.DstPort == 4242 || r2.DstPort < DefaultPortMin || r2.Dst != snatIP {
		t.Errorf("colliding echo id: %v %v", r2, ok)
	}
}

// Protocols without ports get the address only.
func TestSNATAddressOnlyProtocols(t *testing.T) {
	s := mustSNAT(t, "10.0.0.0/8", 0, 0, snatIP, packet.IP4{203, 0, 113, 9})
	orig := tuple(vmIP, 0, peerIP, 0, 47, 0) // GRE
	reply, ok := s.ChooseReply(orig, noneTaken)
	if !ok || reply.SrcPort != 0 || reply.DstPort != 0 || reply.Src != peerIP {
		t.Fatalf("GRE: %v %v", reply, ok)
	}
	r2, ok := s.ChooseReply(orig, takenFunc(func(c conntrack.Tuple) bool { return c.Dst == reply.Dst }))
	if !ok || r2.Dst == reply.Dst {
		t.Errorf("GRE fallback: %v %v", r2, ok)
	}
}

func TestChooseReplyAllocs(t *testing.T) {
	s := mustSNAT(t, "10.0.0.0/8", 0, 0, snatIP, packet.IP4{203, 0, 113, 9})
	orig := tuple(vmIP, 5000, peerIP, 5201, packet.ProtoUDP, snatZone)
	// The kept port is taken, so this measures a probe too.
	var tk conntrack.Taken = &oneTaken{tuple(peerIP, 5201, snatIP, 5000, packet.ProtoUDP, snatZone)}
	if n := testing.AllocsPerRun(100, func() { s.ChooseReply(orig, tk) }); n != 0 {
		t.Errorf("SNAT.ChooseReply: %v allocs", n)
	}
}

type oneTaken struct{ t conntrack.Tuple }

func (o *oneTaken) Taken(t conntrack.Tuple) bool { return t == o.t }
