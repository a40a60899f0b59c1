package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/config"
)

// The dual-stack lab (Options.DualStack, Underlay6): it comes up and goes
// away completely, its IPv6 addresses, routes and neighbours are in place,
// IPv6 stays off where it is not needed, and OVS carries the VMs' IPv6 as
// OVN would, over an IPv4 and over an IPv6 underlay. None of this needs
// xgw to speak IPv6; TestDualStackXGWToday runs xgw on it.

// TestDualStackUpDown: addresses, routes, quiet IPv6 and a clean teardown.
func TestDualStackUpDown(t *testing.T) {
	needRoot(t)
	for _, u6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "underlay4", true: "underlay6"}[u6], func(t *testing.T) {
			before := rootLinks(t)
			l := upLab(t, Options{VMs: 2, DualStack: true, Underlay6: u6})
			c := l.Config()
			v6 := c.V6
			nss, _ := labNamespaces(c.Name)
			if len(nss) != 6 {
				t.Fatalf("namespaces %v, want vm vm2 vmr hv gw ext", nss)
			}
			want := map[[2]string]string{ // role, iface -> address/len
				{"vm", VMIface}:            fmt.Sprintf("%s/64", v6.VMIPs[0]),
				{"vm2", VMIface}:           fmt.Sprintf("%s/64", v6.VMIPs[1]),
				{RoutedVMRole, VMIface}:    fmt.Sprintf("%s/64", v6.RoutedIP),
				{"gw", GWExternalIface}:    v6.GWExternalIP.String(),
				{"ext", ExtIface}:          fmt.Sprintf("%s/64", v6.ExtIP),
				{"gw", GWUnderlayIface}:    "",
				{"hv", HVUnderlayIface}:    "",
				{"hv", "br-phy"}:           "",
				{"hv", "hv-vm1"}:           "",
				{"hv", v6.RoutedVM.HVPort}: "",
			}
			if u6 {
				want[[2]string{"gw", GWUnderlayIface}] = fmt.Sprintf("%s/64", v6.VTEPIP)
				want[[2]string{"hv", "br-phy"}] = fmt.Sprintf("%s/64", v6.HVUnderlayIP)
			}
			for k, addr := range want {
				role, ifc := k[0], k[1]
				out, err := l.Exec(role, "ip", "-6", "-o", "addr", "show", "dev", ifc, "scope", "global").CombinedOutput()
				if err != nil {
					t.Fatalf("%s %s: %v %s", role, ifc, err, out)
				}
				disabled := sysctl(t, l, role, "net.ipv6.conf."+ifc+".disable_ipv6")
				if addr == "" {
					// IPv6 stays off where the lab does not need it.
					if disabled != "1" || len(bytes.TrimSpace(out)) != 0 {
						t.Errorf("%s %s: disable_ipv6=%s, addresses %q; want IPv6 off", role, ifc, disabled, out)
					}
					continue
				}
				if !strings.Contains(string(out), " "+addr+" ") || strings.Contains(string(out), "tentative") {
					t.Errorf("%s %s: %q, want %s (not tentative: nodad)", role, ifc, out, addr)
				}
				for _, k := range []string{"accept_ra", "autoconf", "router_solicitations", "accept_dad"} {
					if v := sysctl(t, l, role, "net.ipv6.conf."+ifc+"."+k); v != "0" {
						t.Errorf("%s %s: %s=%s, want 0 (no RS/RA/DAD noise)", role, ifc, k, v)
					}
				}
			}
			for role, gw := range map[string]netip.Addr{"vm": v6.VMGateway, "vm2": v6.VMGateway, RoutedVMRole: v6.RoutedGateway} {
				out, _ := l.Exec(role, "ip", "-6", "route", "show", "default").CombinedOutput()
				if !strings.Contains(string(out), "via "+gw.String()) {
					t.Errorf("%s: default route %q, want via %s", role, out, gw)
				}
				out, _ = l.Exec(role, "ip", "-6", "neigh", "show", gw.String()).CombinedOutput()
				if !strings.Contains(string(out), "PERMANENT") {
					t.Errorf("%s: neighbour %s: %q, want a permanent entry", role, gw, out)
				}
			}
			for _, pfx := range []netip.Prefix{v6.SNATPrefix, v6.RoutedPrefix} {
				out, _ := l.Exec("ext", "ip", "-6", "route", "show", pfx.String()).CombinedOutput()
				if !strings.Contains(string(out), "via "+v6.GWExternalIP.Addr().String()) {
					t.Errorf("ext: route %s: %q, want via %s", pfx, out, v6.GWExternalIP.Addr())
				}
			}
			// DNATIP is reached by ND alone: no route, no neighbour entry.
			if out, _ := l.Exec("ext", "ip", "-6", "neigh", "show", v6.DNATIP.String()).CombinedOutput(); len(bytes.TrimSpace(out)) != 0 {
				t.Errorf("ext has a neighbour entry for the dnat_and_snat address: %q", out)
			}
			// ext's IPv6 servers listen inside ns ext only.
			srv, err := l.StartUDPEchoAt(netip.AddrPortFrom(v6.ExtIP, 9001))
			if err != nil {
				t.Fatal(err)
			}
			if listening(os.Getpid(), "udp", srv.Addr) {
				t.Errorf("udp-echo on %v listens in the root namespace", srv.Addr)
			}
			ipf, err := l.StartIperfServerAt(v6.ExtIP)
			if err != nil {
				t.Fatal(err)
			}
			pids := []int{srv.Cmd.Process.Pid, ipf.Cmd.Process.Pid}
			if err := l.Down(); err != nil {
				t.Fatal(err)
			}
			if nss, _ := labNamespaces(c.Name); len(nss) != 0 {
				t.Errorf("namespaces left: %v", nss)
			}
			for _, pid := range pids {
				if alive(pid) {
					t.Errorf("server pid %d still running", pid)
				}
			}
			if p := procsMentioning(c.WorkDir); len(p) != 0 {
				t.Errorf("processes left: %v", p)
			}
			if after := rootLinks(t); len(after) != len(before) {
				t.Errorf("root links before %v after %v", before, after)
			}
		})
	}
}

func sysctl(t *testing.T, l *Lab, role, key string) string {
	t.Helper()
	out, err := l.Exec(role, "sysctl", "-n", key).CombinedOutput()
	if err != nil {
		return "absent"
	}
	return strings.TrimSpace(string(out))
}

// TestDualStackGeneve: IPv6 from each VM (NAT66 tenant and routed tenant)
// leaves OVS as OVN's Geneve (VNI 1, option 0x10002, inner eth DR -> GR,
// hop limit 63); Geneve with an inner IPv6 frame from the gateway reaches
// each VM by VNI (9 for sw1, 10 for sw2). Over an IPv4 underlay and over an
// IPv6 one (outer IPv6 from the chassis' encap IP to the VTEP's IPv6).
func TestDualStackGeneve(t *testing.T) {
	needRoot(t)
	for _, u6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "underlay4", true: "underlay6"}[u6], func(t *testing.T) {
			l := upLab(t, Options{VMs: 2, DualStack: true, Underlay6: u6})
			checkEgress6(t, l)
			checkIngress6(t, l)
			if u6 {
				// IPv4 inner over the IPv6 underlay too.
				checkEgress(t, l)
			}
		})
	}
}

// vm6 is a VM of a dual-stack lab with its IPv6 address and switch.
type vm6 struct {
	VM
	ip  netip.Addr
	vni uint32
	gw  net.HardwareAddr // its router port's MAC (inner eth src on ingress)
}

func vms6(c LabAddrs) []vm6 {
	var out []vm6
	for i, vm := range c.VMs {
		out = append(out, vm6{vm, c.V6.VMIPs[i], SwitchVNI, c.VMGWMAC})
	}
	return append(out, vm6{c.V6.RoutedVM, c.V6.RoutedIP, RoutedSwitchVNI, c.V6.RoutedGWMAC})
}

func checkEgress6(t *testing.T, l *Lab) {
	t.Helper()
	c := l.Config()
	ps, err := l.OpenPacketSocket("gw", c.GWUnderlay)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	for _, vm := range vms6(c) {
		var uc *net.UDPConn
		if err := l.Do(vm.Role, func() (err error) {
			uc, err = net.ListenUDP("udp6", &net.UDPAddr{IP: vm.ip.AsSlice()})
			return
		}); err != nil {
			t.Fatal(err)
		}
		payload := []byte("xgwlab egress6 " + vm.Role)
		frame := waitFrame(t, ps, func() {
			uc.WriteToUDPAddrPort(payload, netip.AddrPortFrom(c.V6.ExtIP, 9))
		}, func(f []byte) bool { return bytes.Contains(f, payload) })
		uc.Close()
		if frame == nil {
			t.Fatalf("%s: no Geneve packet on %s", vm.Role, c.GWUnderlay)
		}
		g := checkOuter(t, frame, c.ChassisIP(), c.GatewayVTEP())
		if g.vni != JoinVNI || g.optClass != OVNOptionClass || g.optType != OVNOptionType || g.optValue != JoinOption {
			t.Errorf("%s: geneve %+v, want VNI %d option %#x/%#x=%#x", vm.Role, g, JoinVNI, OVNOptionClass, OVNOptionType, JoinOption)
		}
		checkInner6(t, vm.Role, g.inner, c.DRJoinMAC, c.GRJoinMAC, vm.ip, c.V6.ExtIP, 63)
	}
}

// checkInner6 decodes an inner frame with gopacket: eth src -> dst,
// IPv6 src -> dst with the hop limit.
func checkInner6(t *testing.T, who string, inner []byte, esrc, edst net.HardwareAddr, src, dst netip.Addr, hops uint8) {
	t.Helper()
	in := gopacket.NewPacket(inner, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := in.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := in.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if eth == nil || ip == nil {
		t.Fatalf("%s: inner frame not eth/IPv6: %v", who, in)
	}
	if eth.SrcMAC.String() != esrc.String() || eth.DstMAC.String() != edst.String() || eth.EthernetType != layers.EthernetTypeIPv6 {
		t.Errorf("%s: inner eth %s -> %s type %v, want %s -> %s IPv6", who, eth.SrcMAC, eth.DstMAC, eth.EthernetType, esrc, edst)
	}
	if ip.HopLimit != hops || ip.SrcIP.String() != src.String() || ip.DstIP.String() != dst.String() {
		t.Errorf("%s: inner IPv6 %s -> %s hop limit %d, want %s -> %s %d", who, ip.SrcIP, ip.DstIP, ip.HopLimit, src, dst, hops)
	}
}

// buildGeneve6 returns the Geneve frame the gateway would send toward vm
// with an inner IPv6/UDP datagram, over the lab's underlay (IPv4 or IPv6).
func buildGeneve6(t *testing.T, c LabAddrs, vm vm6, vni uint32, payload []byte) []byte {
	t.Helper()
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	iip := &layers.IPv6{Version: 6, HopLimit: 62, NextHeader: layers.IPProtocolUDP,
		SrcIP: c.V6.ExtIP.AsSlice(), DstIP: vm.ip.AsSlice()}
	iudp := &layers.UDP{SrcPort: 5555, DstPort: 7777}
	iudp.SetNetworkLayerForChecksum(iip)
	inner := ser(&layers.Ethernet{SrcMAC: vm.gw, DstMAC: vm.MAC, EthernetType: layers.EthernetTypeIPv6},
		iip, iudp, gopacket.Payload(payload))
	gnv := []byte{0x02, 0x40, 0x65, 0x58, byte(vni >> 16), byte(vni >> 8), byte(vni), 0,
		0x01, 0x02, 0x80, 0x01, 0, 1, byte(vm.PortKey >> 8), byte(vm.PortKey)}
	oudp := &layers.UDP{SrcPort: 49152, DstPort: GenevePort}
	eth := &layers.Ethernet{SrcMAC: c.GWUnderlayMAC, DstMAC: c.HVUnderlayMAC, EthernetType: layers.EthernetTypeIPv4}
	var oip gopacket.SerializableLayer
	if c.V6.Underlay6 {
		o := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: c.V6.VTEPIP.AsSlice(), DstIP: c.V6.HVUnderlayIP.AsSlice()}
		oudp.SetNetworkLayerForChecksum(o)
		eth.EthernetType, oip = layers.EthernetTypeIPv6, o
	} else {
		o := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment,
			SrcIP: c.VTEPIP.AsSlice(), DstIP: c.HVUnderlayIP.AsSlice()}
		oudp.SetNetworkLayerForChecksum(o)
		oip = o
	}
	return ser(eth, oip, oudp, gopacket.Payload(append(gnv, inner...)))
}

// checkIngress6 injects Geneve with inner IPv6 from ns gw and receives it
// in every VM; the other switch's VNI is not delivered.
func checkIngress6(t *testing.T, l *Lab) {
	t.Helper()
	c := l.Config()
	if c.V6.Underlay6 {
		// ns gw's kernel resolves the chassis' IPv6 encap IP by ND (br-phy
		// answers), the way xgw will.
		out, err := l.Exec("gw", "ping", "-6", "-c", "1", "-W", "2", c.V6.HVUnderlayIP.String()).CombinedOutput()
		nb, _ := l.Exec("gw", "ip", "-6", "neigh", "show", c.V6.HVUnderlayIP.String(), "dev", c.GWUnderlay).CombinedOutput()
		if err != nil || !strings.Contains(string(nb), c.HVUnderlayMAC.String()) {
			t.Fatalf("ns gw did not reach/resolve %s to %s: %v %s\n%s", c.V6.HVUnderlayIP, c.HVUnderlayMAC, err, out, nb)
		}
	}
	ps, err := l.OpenPacketSocket("gw", c.GWUnderlay)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	for _, vm := range vms6(c) {
		var uc *net.UDPConn
		if err := l.Do(vm.Role, func() (err error) {
			uc, err = net.ListenUDP("udp6", &net.UDPAddr{IP: vm.ip.AsSlice(), Port: 7777})
			return
		}); err != nil {
			t.Fatal(err)
		}
		payload := []byte("xgwlab ingress6 " + vm.Role)
		frame := buildGeneve6(t, c, vm, vm.vni, payload)
		buf := make([]byte, 2000)
		got := false
		for deadline := time.Now().Add(5 * time.Second); !got && time.Now().Before(deadline); {
			if err := ps.Write(frame); err != nil {
				t.Fatal(err)
			}
			uc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, from, err := uc.ReadFromUDPAddrPort(buf)
			if err == nil {
				if string(buf[:n]) != string(payload) || from != netip.AddrPortFrom(c.V6.ExtIP, 5555) {
					t.Fatalf("%s: got %q from %v", vm.Role, buf[:n], from)
				}
				got = true
			}
		}
		if !got {
			t.Fatalf("%s: injected Geneve (VNI %d, inner IPv6) never reached the VM", vm.Role, vm.vni)
		}
		other := uint32(RoutedSwitchVNI)
		if vm.vni == RoutedSwitchVNI {
			other = SwitchVNI
		}
		if err := ps.Write(buildGeneve6(t, c, vm, other, []byte("wrong vni"))); err != nil {
			t.Fatal(err)
		}
		uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := uc.ReadFromUDPAddrPort(buf); err == nil {
			t.Errorf("%s: VNI %d delivered: %q", vm.Role, other, buf[:n])
		}
		uc.Close()
	}
}

// The dual-stack config is accepted by xgw's config package, carries
// NAT66, the dnat_and_snat, the routed prefix (no rule), and vtep_ip6 with
// an IPv6 chassis on an IPv6 underlay; the IPv4 lab's config is unchanged
// by the option's existence (no vtep_ip6, no IPv6 anywhere).
func TestXGWConfigDualStack(t *testing.T) {
	for _, u6 := range []bool{false, true} {
		l := &Lab{addrs: newAddrs("cfgtest", "/run/xgwlab-test", 2)}
		l.addrs.V6 = newAddrs6("cfgtest", 2, u6)
		b, err := l.XGWConfig()
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Parse(b)
		if err != nil {
			t.Fatalf("underlay6=%v: config.Parse: %v\n%s", u6, err, b)
		}
		y := string(b)
		for _, want := range []string{
			"ip: 10.199.100.10 fd00:199:100::10",
			"external_ip: 2001:db8:113::10", "logical_ip: fd00:199:100::/64",
			"type: dnat_and_snat", "logical_ip: fd00:199:100::11", "external_ip: 2001:db8:5::20",
			"prefix: 2001:db8:200::/64", "prefix: ::/0", "ip: 2001:db8:200::20",
			"ip: 198.51.100.1/24 2001:db8:5::1/64",
		} {
			if !strings.Contains(y, want) {
				t.Errorf("underlay6=%v: config lacks %q:\n%s", u6, want, y)
			}
		}
		if strings.Contains(y, "logical_ip: 2001:db8:200") {
			t.Errorf("the routed prefix has a NAT rule:\n%s", y)
		}
		if got := string(c.Interfaces.Underlay.VTEPIP6); (got != "") != u6 || string(c.Chassis[0].IP) != l.addrs.ChassisIP().String() {
			t.Errorf("underlay6=%v: vtep_ip6 %q chassis %q", u6, got, c.Chassis[0].IP)
		}
	}
	l := &Lab{addrs: newAddrs("cfgtest", "/run/xgwlab-test", 2)}
	b, _ := l.XGWConfig()
	if bytes.Contains(b, []byte("vtep_ip6")) || bytes.Contains(b, []byte("::")) || bytes.Contains(b, []byte("sw2")) {
		t.Errorf("IPv4 lab config has IPv6 parts:\n%s", b)
	}
}

var (
	xgwBinOnce sync.Once
	xgwBinPath string
	xgwBinErr  error
)

// buildXGW builds cmd/xgw once per test binary, into a directory that
// TestMain removes.
func buildXGW(t *testing.T) string {
	t.Helper()
	xgwBinOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("xgwlab-xgw-%d", os.Getpid()))
		if xgwBinErr = os.MkdirAll(dir, 0o755); xgwBinErr != nil {
			return
		}
		xgwBinPath = filepath.Join(dir, "xgw")
		out, err := exec.Command("go", "build", "-o", xgwBinPath, "../../cmd/xgw").CombinedOutput()
		if err != nil {
			xgwBinErr = fmt.Errorf("go build cmd/xgw: %v\n%s", err, out)
		}
	})
	if xgwBinErr != nil {
		t.Fatal(xgwBinErr)
	}
	return xgwBinPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if xgwBinPath != "" {
		os.RemoveAll(filepath.Dir(xgwBinPath))
	}
	os.Exit(code)
}

// TestDualStackXGWToday runs xgw on the dual-stack lab: a ping -6 from
// the VM crosses OVS as Geneve carrying the inner IPv6 echo request with
// the join switch's VNI, over the IPv4 and over the IPv6 underlay, and
// xgw's IPv6 pipeline forwards it (egress rises; nothing is dropped as
// "not-ipv4"). The e2e tests (e2e/ipv6_test.go) check the traffic end to
// end.
func TestDualStackXGWToday(t *testing.T) {
	needRoot(t)
	bin := buildXGW(t)
	for _, u6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "underlay4", true: "underlay6"}[u6], func(t *testing.T) {
			l := upLab(t, Options{DualStack: true, Underlay6: u6})
			c := l.Config()
			cfg := filepath.Join(c.WorkDir, "xgw.yaml")
			if err := l.WriteXGWConfig(cfg); err != nil {
				t.Fatal(err)
			}
			stats := startXGW(t, l, bin, cfg)
			// The fast path redirects Geneve to AF_XDP before any
			// AF_PACKET tap on gw-u: capture on its peer, hv-u, as
			// the frames leave the hypervisor.
			ps, err := l.OpenPacketSocket("hv", HVUnderlayIface)
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			before := stats()
			const n = 5
			ping := exec.Command("ip", "netns", "exec", l.NS("vm"), "ping", "-6", "-c", fmt.Sprint(n), "-i", "0.2", "-W", "1",
				"-p", "c0ffee", c.V6.ExtIP.String())
			if err := ping.Start(); err != nil {
				t.Fatal(err)
			}
			defer ping.Wait()
			var frames [][]byte
			buf := make([]byte, 9000)
			deadline := time.Now().Add(10 * time.Second)
			for len(frames) < n && time.Now().Before(deadline) {
				m, out, err := ps.Read(buf, 100*time.Millisecond)
				if errors.Is(err, ErrTimeout) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if out && bytes.Contains(buf[:m], []byte{0xc0, 0xff, 0xee, 0xc0, 0xff, 0xee}) {
					frames = append(frames, append([]byte(nil), buf[:m]...))
				}
			}
			if len(frames) < n {
				t.Fatalf("saw %d of %d Geneve frames of the ping on %s", len(frames), n, HVUnderlayIface)
			}
			for _, f := range frames {
				g := checkOuter(t, f, c.ChassisIP(), c.GatewayVTEP())
				if g.vni != JoinVNI || g.optValue != JoinOption {
					t.Errorf("geneve VNI %d option %#x, want %d %#x", g.vni, g.optValue, JoinVNI, JoinOption)
				}
				checkInner6(t, "vm", g.inner, c.DRJoinMAC, c.GRJoinMAC, c.V6.VMIPs[0], c.V6.ExtIP, 63)
				in := gopacket.NewPacket(g.inner, layers.LayerTypeEthernet, gopacket.Default)
				if ic, _ := in.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ic == nil || ic.TypeCode.Type() != layers.ICMPv6TypeEchoRequest {
					t.Errorf("inner is not an ICMPv6 echo request: %v", in)
				}
			}
			ping.Wait()
			want := func(what string, min uint64, get func(xgwStats) uint64) {
				t.Helper()
				var got uint64
				for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
					if got = get(stats()) - get(before); got >= min {
						return
					}
				}
				t.Errorf("%s rose by %d, want >= %d (the ping's echo requests)", what, got, min)
			}
			// Over either underlay xdp_gw steers the Geneve to xgw and
			// the IPv6 pipeline forwards it; once answered, the echo is
			// offloaded and the fast path forwards the rest. The first
			// requests may wait for the kernel to resolve the next hop
			// (neighbor-miss): n-2.
			want(`pipeline + fast-path IPv6 egress`, n-2, func(s xgwStats) uint64 { return s.egress + s.fpEgress6 })
			if got := stats().drops["not-ipv4"] - before.drops["not-ipv4"]; got != 0 {
				t.Errorf(`pipeline drops "not-ipv4" rose by %d: the inner IPv6 did not reach the IPv6 pipeline`, got)
			}
		})
	}
}

type xgwStats struct {
	egress    uint64 // Geneve the pipeline forwarded to the external side
	drops     map[string]uint64
	fpEgress6 uint64 // IPv6 the XDP fast path forwarded to the external side
}

// startXGW runs xgw in ns gw with cfg (stopped and waited for at cleanup)
// and returns a reader of its stats.
func startXGW(t *testing.T, l *Lab, bin, cfg string) func() xgwStats {
	t.Helper()
	sock := filepath.Join(l.Config().WorkDir, "xgw.sock")
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	var mu sync.Mutex
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.NS("gw"), bin, "run", "--config", cfg)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			mu.Lock()
			t.Logf("xgw log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	read := func() (xgwStats, error) {
		out, err := exec.Command(bin, "--control-socket", sock, "stats", "--json").Output()
		if err != nil {
			return xgwStats{}, err
		}
		var doc struct {
			Pipeline struct {
				Drops  map[string]uint64 `json:"drops"`
				Egress uint64            `json:"egress"`
			} `json:"pipeline"`
			XDP []struct {
				Iface string `json:"interface"`
				Stats struct {
					FastPath struct {
						HitEgress6 struct{ Packets uint64 }
					}
				} `json:"stats"`
			} `json:"xdp"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return xgwStats{}, fmt.Errorf("stats json: %v: %s", err, out)
		}
		s := xgwStats{egress: doc.Pipeline.Egress, drops: doc.Pipeline.Drops}
		if len(doc.XDP) > 0 { // one fast path, shared by both programs
			s.fpEgress6 = doc.XDP[0].Stats.FastPath.HitEgress6.Packets
		}
		return s, nil
	}
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := read(); err == nil {
			break
		}
		select {
		case err := <-done:
			done <- err
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("xgw exited during start: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(end) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("xgw did not answer on %s within 20s\n%s", sock, logs.String())
		}
	}
	return func() xgwStats {
		t.Helper()
		s, err := read()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
