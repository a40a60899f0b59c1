package bpf_test

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/bpf"
)

// TestRedirectRouted6 registers a real AF_XDP socket and checks that
// external IPv6 to an address in a routed prefix (SetRoutedPrefix6) is
// redirected to it, and IPv6 outside every routed prefix passed to the
// kernel; removing the prefix passes its traffic again.
func TestRedirectRouted6(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and an AF_XDP socket")
	}
	var r [3]byte
	rand.Read(r[:])
	ns := "xgwxsk-" + hex.EncodeToString(r[:]) + "-r6"
	for _, args := range [][]string{{"netns", "add", ns}, {"-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"}, {"-n", ns, "link", "set", "d0", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "netns", "del", ns).Run()
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })

	o, err := bpf.Load(bpf.Options{VTEP: netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	routed := netip.MustParsePrefix("2001:db8:100::/48")
	inner := netip.MustParsePrefix("2001:db8:100:7::/64")
	nat66 := netip.MustParseAddr("2001:db8:ffff::7")
	for _, p := range []netip.Prefix{routed, inner} {
		if err := o.SetRoutedPrefix6(p); err != nil {
			t.Fatal(err)
		}
	}
	// Host bits are cleared; setting a prefix twice is no error.
	if err := o.SetRoutedPrefix6(netip.MustParsePrefix("2001:db8:100:7::1/64")); err != nil {
		t.Fatal(err)
	}
	if err := o.SetNATAddr(nat66, 0); err != nil {
		t.Fatal(err)
	}
	have, err := o.RoutedPrefixes6()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(have, func(a, b netip.Prefix) int { return a.Bits() - b.Bits() })
	if !slices.Equal(have, []netip.Prefix{routed, inner}) {
		t.Fatalf("RoutedPrefixes6 = %v, want %v %v", have, routed, inner)
	}
	if err := o.SetRoutedPrefix6(netip.MustParsePrefix("10.0.0.0/8")); err == nil {
		t.Fatal("an IPv4 prefix was accepted as a routed IPv6 prefix")
	}
	p := openIn(t, ns, "d0")
	defer p.Close()
	if err := o.RegisterXSK(0, p.FD()); err != nil {
		t.Fatal(err)
	}

	const redirect, pass = 4, 2
	verdict := func(dst string) uint32 {
		t.Helper()
		ret, err := o.Program().Run(&ebpf.RunOptions{Data: udp6Frame(t, netip.MustParseAddr(dst))})
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}
	for _, c := range []struct {
		name, dst string
		want      uint32
	}{
		{"in the routed /48", "2001:db8:100:1::10", redirect},
		{"in the longer /64", "2001:db8:100:7::10", redirect},
		{"just outside the /48", "2001:db8:101::10", pass},
		{"another global address", "2001:db8:200::10", pass},
		{"nat66 address", nat66.String(), redirect},
	} {
		if v := verdict(c.dst); v != c.want {
			t.Errorf("%s (%s): verdict %d, want %d", c.name, c.dst, v, c.want)
		}
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.RedirectRouted.Packets != 2 || st.RedirectNAT.Packets != 1 || st.Pass.Packets != 2 || st.NoSocket.Packets != 0 {
		t.Errorf("stats: routed %d nat %d pass %d no-socket %d, want 2 1 2 0", st.RedirectRouted.Packets,
			st.RedirectNAT.Packets, st.Pass.Packets, st.NoSocket.Packets)
	}

	// The /48 goes: what only it covered passes; the /64 stays steered.
	if err := o.RemoveRoutedPrefix6(routed); err != nil {
		t.Fatal(err)
	}
	if err := o.RemoveRoutedPrefix6(routed); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if v := verdict("2001:db8:100:1::10"); v != pass {
		t.Errorf("after removing %s: verdict %d, want XDP_PASS", routed, v)
	}
	if v := verdict("2001:db8:100:7::10"); v != redirect {
		t.Errorf("%s after removing %s: verdict %d, want XDP_REDIRECT", inner, routed, v)
	}
}

// udp6Frame is a UDP datagram from an external host to dst.
func udp6Frame(t *testing.T, dst netip.Addr) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("2001:db8:ee::1"), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 5201}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6},
		ip, udp, gopacket.Payload(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
