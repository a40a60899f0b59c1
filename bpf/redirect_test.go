package bpf_test

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netns"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/datapath/afxdp"
)

// TestRedirectWithSocket registers a real AF_XDP socket at queue 0 and checks
// that steered frames get XDP_REDIRECT and the rest XDP_PASS. The socket is
// bound to a veth in a throwaway namespace; BPF_PROG_RUN runs on
// queue 0 so the XSKMAP slot is what matters.
func TestRedirectWithSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and an AF_XDP socket")
	}
	var r [3]byte
	rand.Read(r[:])
	ns := "xgwxsk-" + hex.EncodeToString(r[:]) + "-bpf"
	for _, args := range [][]string{{"netns", "add", ns}, {"-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"}, {"-n", ns, "link", "set", "d0", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "netns", "del", ns).Run()
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })

	vtep := netip.MustParseAddr("192.0.2.1")
	nat := netip.MustParseAddr("203.0.113.7")
	o, err := bpf.Load(bpf.Options{VTEP: vtep})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.AddNATAddr(nat); err != nil {
		t.Fatal(err)
	}
	p := openIn(t, ns, "d0")
	defer p.Close()
	if err := o.RegisterXSK(0, p.FD()); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		dst  netip.Addr
		port uint16
		want uint32
	}{
		{"geneve to vtep", vtep, 6081, 4},
		{"udp to nat", nat, 53, 4},
		{"udp to vtep other port", vtep, 53, 2},
		{"udp to host", netip.MustParseAddr("192.0.2.9"), 6081, 2},
	} {
		ret, err := o.Program().Run(&ebpf.RunOptions{Data: udpFrame(t, c.dst, c.port)})
		if err != nil {
			t.Fatal(err)
		}
		if ret != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, ret, c.want)
		}
	}
	// ARP requests for a NAT address are answered by xgw: redirected;
	// ARP for any other address is the kernel's.
	for _, c := range []struct {
		name   string
		target netip.Addr
		want   uint32
	}{
		{"arp request for nat", nat, 4},
		{"arp request for another address", netip.MustParseAddr("198.51.100.77"), 2},
	} {
		ret, err := o.Program().Run(&ebpf.RunOptions{Data: arpRequest(t, c.target)})
		if err != nil {
			t.Fatal(err)
		}
		if ret != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, ret, c.want)
		}
	}
	if err := o.UnregisterXSK(0); err != nil {
		t.Fatal(err)
	}
	if ret, _ := o.Program().Run(&ebpf.RunOptions{Data: udpFrame(t, nat, 53)}); ret != 2 {
		t.Errorf("after unregister: verdict %d, want XDP_PASS", ret)
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.RedirectGeneve.Packets != 1 || st.RedirectNAT.Packets != 1 || st.NoSocket.Packets != 1 || st.Pass.Packets != 3 ||
		st.RedirectARP.Packets != 1 {
		t.Errorf("stats %+v", st)
	}
	// The VTEP set is empty (fail closed): the Geneve frame reached the
	// socket as a punt, not through the fast path.
	if p := st.FastPath.Punts[bpf.PuntUnknownVTEP].Packets; p != 1 {
		t.Errorf("geneve-unknown-source punts %d, want 1; fast path %+v", p, st.FastPath)
	}
}

func openIn(t *testing.T, ns, ifname string) afxdp.Port {
	type res struct {
		p   afxdp.Port
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- res{err: err}
			return
		}
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- res{err: err}
			return
		}
		p, err := afxdp.Open(ifname, 0, afxdp.Config{NumFrames: 256})
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- res{p, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.p
}

func udpFrame(t *testing.T, dst netip.Addr, port uint16) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 51, 100, 1}, DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, udp, gopacket.Payload(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func arpRequest(t *testing.T, target netip.Addr) []byte {
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: []byte{198, 51, 100, 1},
			DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
