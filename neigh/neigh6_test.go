package neigh

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// newLab6 is newLab with IPv6 beside IPv4 on the same veth: "a" has
// 2001:db8:1::1/64, "b" 2001:db8:1::2 and ::3 and its link-local address.
// 2001:db8:99::/64 is routed in "a" via 2001:db8:1::3 and 2001:db8:98::/64
// via b's link-local address, the usual shape of an IPv6 default route.
// Duplicate address detection is off so that addresses answer at once.
// No traffic leaves the two namespaces.
func newLab6(t *testing.T) (l *lab, peerLL netip.Addr) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: neigh IPv6 tests need root to create network namespaces")
	}
	var r [4]byte
	rand.Read(r[:])
	suffix := hex.EncodeToString(r[:])
	l = &lab{a: "xgwn6-a" + suffix, b: "xgwn6-b" + suffix}
	for _, n := range []string{l.a, l.b} {
		run(t, "ip", "netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		run(t, "ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	run(t, "ip", "-n", l.a, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", l.b)
	for _, c := range [][]string{
		{"ip", "-n", l.a, "addr", "add", "192.0.2.1/24", "dev", "v0"},
		{"ip", "-n", l.b, "addr", "add", "192.0.2.2/24", "dev", "v1"},
		{"ip", "-n", l.a, "addr", "add", "2001:db8:1::1/64", "dev", "v0", "nodad"},
		{"ip", "-n", l.b, "addr", "add", "2001:db8:1::2/64", "dev", "v1", "nodad"},
		{"ip", "-n", l.b, "addr", "add", "2001:db8:1::3/64", "dev", "v1", "nodad"},
		{"ip", "-n", l.a, "link", "set", "v0", "up"},
		{"ip", "-n", l.b, "link", "set", "v1", "up"},
		{"ip", "-n", l.a, "-6", "route", "add", "2001:db8:99::/64", "via", "2001:db8:1::3"},
	} {
		run(t, c...)
	}
	ifi := run(t, "ip", "netns", "exec", l.b, "cat", "/sys/class/net/v1/address")
	hw, err := net.ParseMAC(strings.TrimSpace(ifi))
	if err != nil {
		t.Fatal(err)
	}
	l.peerMA = packet.MAC(hw)
	// b's link-local address is derived from its MAC (EUI-64), as OVN
	// derives a router port's.
	ll := [16]byte{0: 0xfe, 1: 0x80, 8: hw[0] ^ 2, 9: hw[1], 10: hw[2], 11: 0xff, 12: 0xfe, 13: hw[3], 14: hw[4], 15: hw[5]}
	peerLL = netip.AddrFrom16(ll)
	waitFor(t, "b's link-local address", func() bool {
		out, _ := exec.Command("ip", "-n", l.b, "-6", "addr", "show", "dev", "v1", "scope", "link").CombinedOutput()
		return strings.Contains(string(out), peerLL.String()) && !strings.Contains(string(out), "tentative")
	})
	run(t, "ip", "-n", l.a, "-6", "route", "add", "2001:db8:98::/64", "via", peerLL.String(), "dev", "v0")
	ns, err := netns.GetFromName(l.a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	l.ns = ns
	return l, peerLL
}

func ip6(s string) route.IP6 { return netip.MustParseAddr(s).As16() }

// waitTable is waitFor that, on a timeout, says what the table held and
// counted, and what the kernel's IPv6 neighbour table of "a" said.
func waitTable(t *testing.T, l *lab, tb *Table, what string, cond func() bool) {
	t.Helper()
	ok := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok = cond(); ok {
			return
		}
	}
	kernel, _ := exec.Command("ip", "-n", l.a, "-6", "neigh", "show").CombinedOutput()
	t.Fatalf("timed out after 5s waiting for %s; table stats %+v, IPv6 snapshot %v, kernel:\n%s", what, tb.Stats(), tb.Snapshot6(), kernel)
}

// TestResolve6Managed: IPv6 next hops are resolved by the kernel's
// neighbour discovery through managed entries, on-link, off-link via a
// global gateway and via a link-local gateway, in the same table as IPv4.
func TestResolve6Managed(t *testing.T) {
	l, peerLL := newLab6(t)
	tb := newTable(t, l, false)
	for _, tc := range []struct{ what, dst string }{
		{"the on-link peer", "2001:db8:1::2"},
		{"an off-link destination via a global gateway", "2001:db8:99::7"},
		{"an off-link destination via a link-local gateway", "2001:db8:98::5"},
	} {
		dst := ip6(tc.dst)
		if _, ok := tb.Lookup6(dst); ok {
			t.Fatalf("%s: first Lookup6 hit before any resolution", tc.what)
		}
		waitTable(t, l, tb, tc.what+" ("+tc.dst+") to resolve", func() bool { _, ok := tb.Peek6(dst); return ok })
		if mac, ok := tb.Lookup6(dst); !ok || mac != l.peerMA {
			t.Fatalf("%s: Lookup6 = %v, %v; want %v", tc.what, mac, ok, l.peerMA)
		}
	}
	if out := run(t, "ip", "-n", l.a, "-6", "neigh", "show", "2001:db8:1::2"); !strings.Contains(out, "managed") {
		t.Fatalf("kernel IPv6 entry is not managed: %q", out)
	}
	if _, ok := tb.Snapshot6()[peerLL.As16()]; !ok {
		t.Errorf("the link-local gateway %s is not in the IPv6 snapshot: %v", peerLL, tb.Snapshot6())
	}
	// IPv4 in the same table, unaffected.
	tb.Lookup(ip4("192.0.2.2"))
	waitTable(t, l, tb, "the IPv4 peer to resolve", func() bool { _, ok := tb.Peek(ip4("192.0.2.2")); return ok })
	if s := tb.Stats(); s.Managed < 4 || s.Probes != 0 || s.Entries < 5 {
		t.Fatalf("stats %+v: want 4 managed entries (3 IPv6 + 1 IPv4), no probe, both families' entries", s)
	}
	if _, ok := tb.Snapshot()[ip4("192.0.2.2")]; !ok {
		t.Error("IPv4 snapshot lacks the IPv4 peer")
	}
	// A deleted kernel entry disappears.
	run(t, "ip", "-n", l.a, "-6", "neigh", "del", "2001:db8:1::2", "dev", "v0")
	waitTable(t, l, tb, "the deleted IPv6 entry to disappear", func() bool { _, ok := tb.Peek6(ip6("2001:db8:1::2")); return !ok })
}

// TestResolve6ProbeFallback: without managed entries an AF_INET6 probe
// makes the kernel solicit the neighbour.
func TestResolve6ProbeFallback(t *testing.T) {
	l, _ := newLab6(t)
	tb := newTable(t, l, true)
	peer := ip6("2001:db8:1::3")
	if _, ok := tb.Lookup6(peer); ok {
		t.Fatal("first Lookup6 hit before any resolution")
	}
	waitTable(t, l, tb, "the probe to resolve the IPv6 peer", func() bool { _, ok := tb.Peek6(peer); return ok })
	if mac, _ := tb.Lookup6(peer); mac != l.peerMA {
		t.Fatalf("Lookup6 = %v, want %v", mac, l.peerMA)
	}
	if s := tb.Stats(); s.Probes == 0 || s.Managed != 0 {
		t.Fatalf("stats %+v: want a probe and no managed entry", s)
	}
}

// TestLookup6HitAllocs: a permanent IPv6 entry present at start is read
// by the initial listing, and a hit does not allocate.
func TestLookup6HitAllocs(t *testing.T) {
	l, _ := newLab6(t)
	run(t, "ip", "-n", l.a, "-6", "neigh", "add", "2001:db8:1::2", "lladdr", l.peerMA.String(), "dev", "v0", "nud", "permanent")
	tb := newTable(t, l, false)
	peer := ip6("2001:db8:1::2")
	waitTable(t, l, tb, "the permanent IPv6 entry", func() bool { _, ok := tb.Peek6(peer); return ok })
	if n := testing.AllocsPerRun(1000, func() { tb.Lookup6(peer) }); n != 0 {
		t.Fatalf("Lookup6 hit allocates %v times", n)
	}
}

// TestStateApply6 folds IPv6 events into the state: unicast (global and
// link-local) entries are kept in the IPv6 map, multicast and IPv4-mapped
// ones ignored, and an off-link destination follows its gateway within
// its family.
func TestStateApply6(t *testing.T) {
	links := map[int]string{2: "eth0"}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	up := func(typ uint16, state int, ip string) netlink.NeighUpdate {
		return netlink.NeighUpdate{Type: typ, Neigh: netlink.Neigh{
			LinkIndex: 2, Family: netlink.FAMILY_V6, State: state, IP: net.ParseIP(ip), HardwareAddr: mac}}
	}
	s := newState()
	s.via[netip.MustParseAddr("2001:db8:99::9")] = netip.MustParseAddr("fe80::1")
	for _, c := range []struct {
		u       netlink.NeighUpdate
		changed bool
	}{
		{up(unix.RTM_NEWNEIGH, netlink.NUD_REACHABLE, "2001:db8::1"), true},
		{up(unix.RTM_NEWNEIGH, netlink.NUD_STALE, "fe80::1"), true},
		{up(unix.RTM_NEWNEIGH, netlink.NUD_REACHABLE, "ff02::1:ff00:1"), false},
		{up(unix.RTM_NEWNEIGH, netlink.NUD_REACHABLE, "::ffff:192.0.2.9"), false},
		{up(unix.RTM_NEWNEIGH, netlink.NUD_INCOMPLETE, "2001:db8::2"), false},
	} {
		if got := s.apply(c.u, links); got != c.changed {
			t.Errorf("%s: changed = %v, want %v", c.u.IP, got, c.changed)
		}
	}
	m := s.build()
	for _, a := range []string{"2001:db8::1", "fe80::1", "2001:db8:99::9"} {
		if got, ok := m.v6[ip6(a)]; !ok || got != packet.MAC(mac) {
			t.Errorf("%s → %v, %v", a, got, ok)
		}
	}
	if len(m.v6) != 3 || len(m.v4) != 0 {
		t.Errorf("snapshot %v / %v, want exactly the 3 IPv6 entries", m.v4, m.v6)
	}
}
