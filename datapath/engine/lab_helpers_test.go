package engine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/packet"
)

// engLab is TestEngineReflect's topology: namespace a runs
// xdp_gw and an Engine on ua (underlay, VTEP 192.0.2.1) and ea (external,
// NAT address 198.51.100.1); namespace b is the other end of both veths.
type engLab struct {
	a, b  string
	ubMAC packet.MAC
	eng   *Engine
}

func newEngLab(t testing.TB, proc Processor, port afxdp.Config) *engLab {
	t.Helper()
	return newEngLabQueues(t, proc, port, 1)
}

// newEngLabQueues is newEngLab with queues RX/TX queues per veth.
func newEngLabQueues(t testing.TB, proc Processor, port afxdp.Config, queues int) *engLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root for namespaces, XDP and AF_XDP")
	}
	var r [3]byte
	rand.Read(r[:])
	l := &engLab{a: "xgweng-" + hex.EncodeToString(r[:]) + "-a", b: "xgweng-" + hex.EncodeToString(r[:]) + "-b"}
	for _, n := range []string{l.a, l.b} {
		sh(t, "ip", "netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		sh(t, "ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
			"net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	for _, v := range [][4]string{{"ua", "192.0.2.1/24", "ub", "192.0.2.2/24"}, {"ea", "192.0.3.1/24", "eb", "192.0.3.2/24"}} {
		nq := fmt.Sprint(queues)
		sh(t, "ip", "-n", l.a, "link", "add", v[0], "numtxqueues", nq, "numrxqueues", nq, "type", "veth",
			"peer", "name", v[2], "numtxqueues", nq, "numrxqueues", nq, "netns", l.b)
		for _, x := range [][3]string{{l.a, v[0], v[1]}, {l.b, v[2], v[3]}} {
			sh(t, "ip", "-n", x[0], "addr", "add", x[2], "dev", x[1])
			sh(t, "ip", "-n", x[0], "link", "set", x[1], "up")
			sh(t, "ip", "netns", "exec", x[0], "ethtool", "-K", x[1], "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
		}
	}
	sh(t, "ip", "-n", l.b, "route", "add", "198.51.100.0/24", "via", "192.0.3.1", "dev", "eb")
	hw, _ := net.ParseMAC(strings.TrimSpace(sh(t, "ip", "netns", "exec", l.b, "cat", "/sys/class/net/ub/address")))
	l.ubMAC = packet.MAC(hw)
	inNS(t, l.a, func() {
		objs := map[string]*bpf.Objects{}
		for _, ifname := range []string{"ua", "ea"} {
			o, err := bpf.Load(bpf.Options{VTEP: netip.MustParseAddr("192.0.2.1")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Close() })
			if err := o.AddNATAddr(netip.MustParseAddr("198.51.100.1")); err != nil {
				t.Fatal(err)
			}
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				t.Fatal(err)
			}
			lk, err := o.Attach(ifi.Index, bpf.ModeNative)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lk.Close() })
			objs[ifname] = o
		}
		var err error
		l.eng, err = New(Config{
			Underlay: "ua", External: "ea", VTEP: packet.IP4{192, 0, 2, 1},
			NewProcessor: func() Processor { return proc },
			Register:     func(ifname string, q, fd int) error { return objs[ifname].RegisterXSK(q, fd) },
			PollTimeout:  10 * time.Millisecond,
			Port:         port,
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { l.eng.Close() })
	return l
}

// dial opens UDP sockets in namespace b to addr.
func (l *engLab) dial(t testing.TB, addr string, n int) []*net.UDPConn {
	t.Helper()
	var cs []*net.UDPConn
	inNS(t, l.b, func() {
		ua, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			c, err := net.DialUDP("udp4", nil, ua)
			if err != nil {
				t.Fatal(fmt.Errorf("dial %s: %w", addr, err))
			}
			t.Cleanup(func() { c.Close() })
			cs = append(cs, c)
		}
	})
	return cs
}
