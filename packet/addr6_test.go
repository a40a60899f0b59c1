package packet

import (
	"math/rand"
	"net/netip"
	"testing"
)

// TestIP6Predicates checks the RFC 4291 predicates against netip's on
// the special addresses and on random ones.
func TestIP6Predicates(t *testing.T) {
	addrs := []string{"::", "::1", "::2", "ff02::1", "ff02::1:ff00:1", "ff05::2", "ff12::3", "fe80::1", "febf::1", "fec0::1",
		"::ffff:10.0.0.1", "::ffff:0:0", "::fffe:10.0.0.1", "2001:db8::1", "fd00::1", "::10.0.0.1", "ff00::"}
	r := rand.New(rand.NewSource(4))
	for i := 0; i < 2000; i++ {
		var b [16]byte
		r.Read(b[:])
		switch i % 4 {
		case 1:
			b[0], b[1] = 0xfe, 0x80|b[1]&0x3f
		case 2:
			b[0] = 0xff
		case 3:
			copy(b[:12], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
		}
		addrs = append(addrs, netip.AddrFrom16(b).String())
	}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		ip := MustIP6(s)
		// netip judges ::ffff:a.b.c.d by its IPv4 meaning; as an IPv6
		// address it is in none of the ranges but its own.
		n := a
		if a.Is4In6() {
			n = netip.MustParseAddr("2001:db8::1")
		}
		if ip.Addr() != a || ip.String() != a.String() {
			t.Fatalf("%s: Addr %v String %q", s, ip.Addr(), ip.String())
		}
		for _, c := range []struct {
			name      string
			got, want bool
		}{
			{"unspecified", ip.IsUnspecified(), n.IsUnspecified()},
			{"zero", ip.IsZero(), n.IsUnspecified()},
			{"loopback", ip.IsLoopback(), n.IsLoopback()},
			{"multicast", ip.IsMulticast(), n.IsMulticast()},
			{"link-local unicast", ip.IsLinkLocalUnicast(), n.IsLinkLocalUnicast()},
			{"link-local multicast", ip.IsLinkLocalMulticast(), n.IsLinkLocalMulticast()},
			{"v4-mapped", ip.IsV4Mapped(), a.Is4In6()},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s = %v, want %v", s, c.name, c.got, c.want)
			}
		}
	}
	if _, ok := IP6From(netip.MustParseAddr("10.0.0.1")); ok {
		t.Fatal("IP6From accepted an IPv4 address")
	}
	if MustIP6("2001:db8::1").Compare(MustIP6("2001:db8::2")) >= 0 || MustIP6("::2").Compare(MustIP6("::2")) != 0 || MustIP6("1::").Compare(MustIP6("::ffff")) <= 0 {
		t.Fatal("Compare")
	}
	if got := MustIP6("2001:db8::aa:bbcc:ddee").SolicitedNode(); got != MustIP6("ff02::1:ffcc:ddee") {
		t.Fatalf("SolicitedNode %v", got)
	}
	if got := MustIP6("ff02::1:ffcc:ddee").MulticastMAC(); got != MustMAC("33:33:ff:cc:dd:ee") {
		t.Fatalf("MulticastMAC %v", got)
	}
}
