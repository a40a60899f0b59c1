package afxdp_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// lab is a pair of throwaway namespaces, A (traffic) and B (the port under
// test), joined by veth pairs. Names are xgwxsk-<random>-{a,b}; nothing is
// created in the caller's namespace and teardown always runs.
type lab struct {
	t      testing.TB
	a, b   string
	queues int
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths, XDP programs and AF_XDP sockets")
	}
}

func newLab(t testing.TB, queues int) *lab {
	t.Helper()
	needRoot(t)
	var r [3]byte
	rand.Read(r[:])
	id := "xgwxsk-" + hex.EncodeToString(r[:])
	l := &lab{t: t, a: id + "-a", b: id + "-b", queues: queues}
	t.Cleanup(l.teardown)
	l.ip("netns", "add", l.a)
	l.ip("netns", "add", l.b)
	for _, ns := range []string{l.a, l.b} {
		l.run("ip", "netns", "exec", ns, "sysctl", "-qw",
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
		l.ip("-n", ns, "link", "set", "lo", "up")
	}
	return l
}

// link adds veth aIf (in A, addr aAddr) <-> bIf (in B, addr bAddr), offloads off.
func (l *lab) link(aIf, aAddr, bIf, bAddr string) {
	q := fmt.Sprint(l.queues)
	l.ip("-n", l.a, "link", "add", aIf, "numtxqueues", q, "numrxqueues", q, "type", "veth",
		"peer", "name", bIf, "netns", l.b, "numtxqueues", q, "numrxqueues", q)
	for _, x := range [][3]string{{l.a, aIf, aAddr}, {l.b, bIf, bAddr}} {
		l.ip("-n", x[0], "addr", "add", x[2], "dev", x[1])
		l.ip("-n", x[0], "link", "set", x[1], "up")
		l.run("ip", "netns", "exec", x[0], "ethtool", "-K", x[1], "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
	}
}

func (l *lab) teardown() {
	// Deleting the namespaces removes the veths and detaches XDP.
	exec.Command("ip", "netns", "del", l.a).Run()
	exec.Command("ip", "netns", "del", l.b).Run()
}

func (l *lab) ip(args ...string) string { return l.run("ip", args...) }

func (l *lab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mac returns the MAC of ifname in ns.
func (l *lab) mac(ns, ifname string) net.HardwareAddr {
	var hw net.HardwareAddr
	l.do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		hw = ifi.HardwareAddr
		return nil
	})
	return hw
}

// do runs fn on an OS thread inside ns. Sockets and links created there stay
// in ns. If switching back fails the thread stays locked and dies with its
// goroutine instead of leaking into the pool.
func (l *lab) do(ns string, fn func() error) {
	l.t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		l.t.Fatalf("in %s: %v", ns, err)
	}
}
