package bpf

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
	"golang.org/x/sys/unix"
)

// labNS creates a network namespace "xgwfp-<random>" with veth pairs
// named after pairs (a0:a1 ...), all up, IPv6 off, offloads off, and
// removes it when the test ends (failed or not).
func labNS(t testing.TB, pairs ...[2]string) string {
	t.Helper()
	var r [4]byte
	rand.Read(r[:])
	ns := "xgwfp-" + hex.EncodeToString(r[:])
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1").Run()
	for _, p := range pairs {
		ip("-n", ns, "link", "add", p[0], "type", "veth", "peer", "name", p[1])
		for _, d := range p {
			exec.Command("ip", "netns", "exec", ns, "ethtool", "-K", d, "tx", "off", "tso", "off", "gso", "off").Run()
			ip("-n", ns, "link", "set", d, "up")
		}
	}
	ip("-n", ns, "link", "set", "lo", "up")
	return ns
}

// inNS runs f on a thread inside ns (lab.DoIn).
func inNS(t testing.TB, ns string, f func() error) {
	t.Helper()
	if err := lab.DoIn(ns, f); err != nil {
		t.Fatal(err)
	}
}

func ifindexIn(t testing.TB, ns, name string) int {
	t.Helper()
	var idx int
	inNS(t, ns, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		idx = ifi.Index
		return nil
	})
	return idx
}

// tap is an AF_PACKET socket on one interface of a namespace.
type tap struct{ fd int }

func openTap(t testing.TB, ns, name string) *tap {
	t.Helper()
	idx := ifindexIn(t, ns, name)
	proto := int(htons(unix.ETH_P_ALL))
	var tp tap
	inNS(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: idx}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		tp.fd = fd
		return nil
	})
	t.Cleanup(func() { unix.Close(tp.fd) })
	return &tp
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// expect waits up to a second for want to arrive (other frames are
// skipped) and reports whether it did.
func (tp *tap) expect(want []byte) bool {
	buf := make([]byte, 9000)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(tp.fd, buf, 0)
		if err != nil {
			continue
		}
		if bytes.Equal(buf[:n], want) {
			return true
		}
	}
	return false
}

// count drains the socket for d and returns how many frames arrived on
// the interface (frames sent from it are not counted).
func (tp *tap) count(d time.Duration) int {
	buf := make([]byte, 9000)
	n := 0
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_, from, err := unix.Recvfrom(tp.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		n++
	}
	return n
}

// send transmits frame out of the tap's interface.
func (tp *tap) send(frame []byte) error {
	if _, err := unix.Write(tp.fd, frame); err != nil {
		return fmt.Errorf("%v: send %d bytes: %w", tp, len(frame), err)
	}
	return nil
}

func (tp *tap) String() string { return fmt.Sprintf("tap(fd %d)", tp.fd) }
