package neigh

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/xgw-dev/xgw/packet"
)

// lab is two namespaces joined by a veth: "a" runs the Table (v0,
// 192.0.2.1/24), "b" is the neighbour (v1, 192.0.2.2 and 192.0.2.3).
// 198.51.100.0/24 is routed in "a" via 192.0.2.3, to test off-link
// destinations. No traffic leaves the two namespaces.
type lab struct {
	a, b   string
	ns     netns.NsHandle
	peerMA packet.MAC
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: neigh tests need root to create network namespaces")
	}
	var r [4]byte
	rand.Read(r[:])
	suffix := hex.EncodeToString(r[:])
	l := &lab{a: "xgwnb-a" + suffix, b: "xgwnb-b" + suffix}
	for _, n := range []string{l.a, l.b} {
		run(t, "ip", "netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	run(t, "ip", "-n", l.a, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", l.b)
	for _, c := range [][]string{
		{"ip", "-n", l.a, "addr", "add", "192.0.2.1/24", "dev", "v0"},
		{"ip", "-n", l.b, "addr", "add", "192.0.2.2/24", "dev", "v1"},
		{"ip", "-n", l.b, "addr", "add", "192.0.2.3/24", "dev", "v1"},
		{"ip", "-n", l.a, "link", "set", "v0", "up"},
		{"ip", "-n", l.b, "link", "set", "v1", "up"},
		{"ip", "-n", l.a, "route", "add", "198.51.100.0/24", "via", "192.0.2.3"},
	} {
		run(t, c...)
	}
	ns, err := netns.GetFromName(l.a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	l.ns = ns
	ifi := run(t, "ip", "netns", "exec", l.b, "cat", "/sys/class/net/v1/address")
	hw, err := net.ParseMAC(strings.TrimSpace(ifi))
	if err != nil {
		t.Fatal(err)
	}
	l.peerMA = packet.MAC(hw)
	return l
}

func ip4(s string) packet.IP4 { return packet.IP4(net.ParseIP(s).To4()) }

// waitFor polls cond for up to 5 s: resolution is the kernel's and takes
// one ARP round trip plus a netlink event.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func newTable(t *testing.T, l *lab, probe bool) *Table {
	t.Helper()
	tb, err := New(Config{Interfaces: []string{"v0", "v0"}, Namespace: l.ns})
	if err != nil {
		t.Fatal(err)
	}
	tb.noManaged.Store(probe)
	t.Cleanup(func() { tb.Close() })
	return tb
}

func TestResolveManaged(t *testing.T) {
	l := newLab(t)
	tb := newTable(t, l, false)
	peer := ip4("192.0.2.2")

	if _, ok := tb.Lookup(peer); ok {
		t.Fatal("first Lookup hit before any resolution")
	}
	waitFor(t, "the peer to resolve", func() bool { _, ok := tb.Peek(peer); return ok })
	mac, ok := tb.Lookup(peer)
	if !ok || mac != l.peerMA {
		t.Fatalf("Lookup = %v, %v; want %v, true", mac, ok, l.peerMA)
	}
	if s := tb.Stats(); s.Managed == 0 || s.Misses == 0 || s.Probes != 0 {
		t.Fatalf("stats %+v: want a managed entry, a miss and no probe", s)
	}
	if out := run(t, "ip", "-n", l.a, "neigh", "show", "192.0.2.2"); !strings.Contains(out, "managed") {
		t.Fatalf("kernel entry is not managed: %q", out)
	}

	// Off-link: 198.51.100.7 is routed via 192.0.2.3, whose MAC is the peer's.
	far := ip4("198.51.100.7")
	if _, ok := tb.Lookup(far); ok {
		t.Fatal("off-link Lookup hit before resolution")
	}
	waitFor(t, "the off-link destination to resolve", func() bool { _, ok := tb.Peek(far); return ok })
	if mac, _ := tb.Lookup(far); mac != l.peerMA {
		t.Fatalf("off-link Lookup = %v, want the gateway's %v", mac, l.peerMA)
	}

	// A deleted kernel entry disappears from the table.
	run(t, "ip", "-n", l.a, "neigh", "del", "192.0.2.2", "dev", "v0")
	waitFor(t, "the deleted entry to disappear", func() bool { _, ok := tb.Peek(peer); return !ok })

	// Close must not wait for the next neighbour event (xgw run's shutdown).
	time.Sleep(200 * time.Millisecond) // let the re-resolution settle: a quiet table
	start := time.Now()
	tb.Close()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Close took %v", d)
	}
}

func TestResolveProbeFallback(t *testing.T) {
	l := newLab(t)
	tb := newTable(t, l, true)
	peer := ip4("192.0.2.3")
	if _, ok := tb.Lookup(peer); ok {
		t.Fatal("first Lookup hit before any resolution")
	}
	waitFor(t, "the probe to resolve the peer", func() bool { _, ok := tb.Peek(peer); return ok })
	if mac, _ := tb.Lookup(peer); mac != l.peerMA {
		t.Fatalf("Lookup = %v, want %v", mac, l.peerMA)
	}
	if s := tb.Stats(); s.Probes == 0 || s.Managed != 0 {
		t.Fatalf("stats %+v: want a probe and no managed entry", s)
	}
}

func TestLookupHitAllocs(t *testing.T) {
	l := newLab(t)
	run(t, "ip", "-n", l.a, "neigh", "add", "192.0.2.2", "lladdr", l.peerMA.String(), "dev", "v0", "nud", "permanent")
	tb := newTable(t, l, false)
	peer := ip4("192.0.2.2")
	waitFor(t, "the permanent entry", func() bool { _, ok := tb.Peek(peer); return ok })
	if n := testing.AllocsPerRun(1000, func() { tb.Lookup(peer) }); n != 0 {
		t.Fatalf("Lookup hit allocates %v times", n)
	}
}

func TestUnknownInterface(t *testing.T) {
	l := newLab(t)
	if _, err := New(Config{Interfaces: []string{"nope0"}, Namespace: l.ns}); err == nil ||
		!strings.Contains(err.Error(), "nope0") {
		t.Fatalf("New with a missing interface: err = %v, want one naming it", err)
	}
}

// TestCurrentNamespace uses the zero Config.Namespace (the caller's
// namespace) from a thread switched into the lab, as `ip netns exec` would.
func TestCurrentNamespace(t *testing.T) {
	l := newLab(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(l.ns); err != nil {
		t.Fatal(err)
	}
	tb, err := New(Config{Interfaces: []string{"v0"}})
	if err := netns.Set(orig); err != nil {
		panic(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	tb.Lookup(ip4("192.0.2.2"))
	waitFor(t, "the peer to resolve", func() bool { _, ok := tb.Peek(ip4("192.0.2.2")); return ok })
}
