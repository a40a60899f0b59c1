package datapath

import (
	"bytes"
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

// TestMartians6: each martian source and destination is dropped by its
// reason, decoded from a gopacket-built frame; ordinary addresses next to
// them pass.
func TestMartians6(t *testing.T) {
	own := []packet.IP6{v6Router, packet.MustIP6("2001:db8:5::1")}
	a := packet.MustIP6
	for _, tc := range []struct {
		name     string
		src, dst packet.IP6
		want     Drop
	}{
		{"ordinary", v6VM, v6Server, DropNone},
		{"ordinary inbound", v6Server, v6VM, DropNone},
		{"global multicast-looking unicast", a("fe00::1"), v6Server, DropNone}, // fe00::/9 is not link-local
		{"site-local (deprecated, routable)", a("fec0::1"), v6Server, DropNone},
		{"src ::", packet.IP6{}, v6Server, DropMartianSource6},
		{"src ::1", a("::1"), v6Server, DropMartianSource6},
		{"src multicast", a("ff0e::1"), v6Server, DropMartianSource6},
		{"src link-local", a("fe80::1"), v6Server, DropMartianSource6},
		{"src link-local, high bits", a("febf:ffff::1"), v6Server, DropMartianSource6},
		{"src v4-mapped", a("::ffff:10.199.100.10"), v6Server, DropMartianSource6},
		{"src the router's join port", v6Router, v6Server, DropMartianSource6},
		{"src the router's external port", a("2001:db8:5::1"), v6VM, DropMartianSource6},
		{"dst ::", v6VM, packet.IP6{}, DropMartianDest6},
		{"dst ::1", v6VM, a("::1"), DropMartianDest6},
		{"dst link-local", v6VM, a("fe80::5"), DropMartianDest6},
		{"dst link-local multicast", v6VM, a("ff02::1"), DropMartianDest6},
		{"dst global multicast", v6VM, a("ff0e::101"), DropMartianDest6},
		{"dst v4-mapped", v6VM, a("::ffff:172.31.6.24"), DropMartianDest6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := udp6(t, tc.src, tc.dst, 64, 8)
			if got := validate6(decode6(t, f), own); got != tc.want {
				t.Fatalf("validate6: %v, want %v", got, tc.want)
			}
		})
	}
	if DropMartianSource6.String() != "martian-source-ipv6" || DropMartianDest6.String() != "martian-destination-ipv6" {
		t.Fatalf("names %q %q", DropMartianSource6, DropMartianDest6)
	}
	p := decode6(t, udp6(t, v6VM, v6Server, 64, 8))
	if n := testing.AllocsPerRun(100, func() { validate6(p, own) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// TestInput6: martians are dropped before the hop limit is looked at (no
// message to a martian); a hop limit of 1 or 0 is replaced by time
// exceeded from the receiving port; 2 goes on untouched.
func TestInput6(t *testing.T) {
	own := []packet.IP6{v6Router}
	for _, tc := range []struct {
		name     string
		src      packet.IP6
		hop      uint8
		wantSent bool
		want     Drop
	}{
		{"hop limit 2", v6VM, 2, false, DropNone},
		{"hop limit 1", v6VM, 1, true, DropNone},
		{"hop limit 0", v6VM, 0, true, DropNone},
		{"martian, hop limit 1", packet.MustIP6("fe80::1"), 1, false, DropMartianSource6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCtx6(t)
			f := udp6(t, tc.src, v6Server, tc.hop, 8)
			c := x.load(t, f, 0)
			sent, why := x.h.w.input6(c, x.pkt.Frame(), own, v6Router)
			if sent != tc.wantSent || why != tc.want {
				t.Fatalf("input6: sent %v %v, want %v %v", sent, why, tc.wantSent, tc.want)
			}
			if sent {
				wantError6(t, x, tc.src, packet.ICMPv6TimeExceeded, 0, 0, f[14:])
			} else if !bytes.Equal(x.pkt.Frame(), f) {
				t.Fatal("packet changed")
			}
		})
	}
}
