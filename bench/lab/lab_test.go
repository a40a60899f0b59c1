package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/config"
	"gopkg.in/yaml.v3"
)

// needRoot skips (loudly) when not root; as root, missing tools fail.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the namespace lab needs root (network namespaces, OVS); run `go test` as root")
	}
	for _, tool := range []string{"ip", "ovs-vswitchd", "ovsdb-server", "ovs-vsctl", "ovs-ofctl", "ethtool", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/install-deps.sh", tool)
		}
	}
}

func upLab(t *testing.T, opts Options) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	l, err := Up(ctx, opts)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("lab %s up in %v", l.Name(), time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		t0 := time.Now()
		if err := l.Down(); err != nil {
			t.Errorf("Down: %v", err)
		}
		t.Logf("lab %s down in %v", l.Name(), time.Since(t0).Round(time.Millisecond))
	})
	return l
}

func rootLinks(t *testing.T) map[string]bool {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, i := range ifs {
		m[i.Name] = true
	}
	return m
}

// procsMentioning lists live (non-zombie) processes whose command line
// contains s.
func procsMentioning(s string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		if st, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); bytes.Contains(st, []byte(") Z ")) {
			continue
		}
		out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}

func alive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !bytes.Contains(st, []byte(") Z "))
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}

// (1) Up builds four namespaces, OVS and servers inside them; Down leaves
// no namespace, process, veth or work dir behind, and can be called again.
func TestUpDownLeavesNothing(t *testing.T) {
	needRoot(t)
	before := rootLinks(t)
	l, err := Up(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Down() // in case of an early Fatal
	c := l.Config()
	nss, _ := labNamespaces(c.Name)
	if len(nss) != 4 {
		t.Fatalf("namespaces %v, want vm hv gw ext", nss)
	}
	var pids []int
	for _, d := range []string{"ovsdb-server", "ovs-vswitchd"} {
		pid := readPid(t, filepath.Join(c.OVSRunDir, d+".pid"))
		if !alive(pid) {
			t.Fatalf("%s (pid %d) not running", d, pid)
		}
		pids = append(pids, pid)
	}
	if got := nsPids([]string{l.NS("hv")}); len(got) != 2 {
		t.Errorf("processes in ns hv: %v, want the 2 OVS daemons", got)
	}
	var servers []*Server
	for _, start := range []func() (*Server, error){
		l.StartIperfServer,
		func() (*Server, error) { return l.StartUDPSink(9000) },
		func() (*Server, error) { return l.StartUDPEcho(9001) },
	} {
		s, err := start()
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
		pids = append(pids, s.Cmd.Process.Pid)
		proto := map[bool]string{true: "tcp", false: "udp"}[s.Kind == "iperf3"]
		if listening(os.Getpid(), proto, s.Addr) {
			t.Errorf("%s listens in the root namespace", s.Kind)
		}
	}
	if got := nsPids([]string{l.NS("ext")}); len(got) != 3 {
		t.Errorf("processes in ns ext: %v, want 3 servers", got)
	}
	for name := range rootLinks(t) {
		if !before[name] {
			t.Errorf("lab created %q in the root namespace", name)
		}
	}

	t0 := time.Now()
	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("Down took %v", time.Since(t0))
	if err := l.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if nss, _ := labNamespaces(c.Name); len(nss) != 0 {
		t.Errorf("namespaces left: %v", nss)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still running", pid)
		}
	}
	if p := procsMentioning(c.WorkDir); len(p) != 0 {
		t.Errorf("processes left: %v", p)
	}
	if after := rootLinks(t); len(after) != len(before) {
		t.Errorf("root links before %v after %v", before, after)
	}
	if _, err := os.Stat(c.WorkDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir %s left: %v", c.WorkDir, err)
	}
	for _, s := range servers {
		s.Stop() // idempotent after Down
	}
}

// The UDP servers run inside ns ext: the sink counts, the echo reflects.
func TestServers(t *testing.T) {
	needRoot(t)
	l := upLab(t, Options{})
	sink, err := l.StartUDPSink(9000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartUDPEcho(9001); err != nil {
		t.Fatal(err)
	}
	ext := l.Config().ExtIP
	var c *net.UDPConn
	if err := l.Do("ext", func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ext.AsSlice()})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 10 {
		if _, err := c.WriteToUDPAddrPort([]byte("0123456789"), netip.AddrPortFrom(ext, 9000)); err != nil {
			t.Fatal(err)
		}
	}
	var p, b uint64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && p < 10; {
		if p, b, err = sink.UDPSinkStats(); err != nil {
			t.Fatal(err)
		}
	}
	if p != 10 || b != 100 {
		t.Errorf("sink counted %d datagrams %d bytes, want 10 / 100", p, b)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.WriteToUDPAddrPort([]byte("echo?"), netip.AddrPortFrom(ext, 9001))
	buf := make([]byte, 100)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "echo?" || from.Port() != 9001 {
		t.Errorf("echo: %q from %v, %v", buf[:n], from, err)
	}
}

// (2) A UDP datagram from the VM to the ext host leaves OVS as OVN would
// send it to the gateway.
func TestEgressGeneve(t *testing.T) {
	needRoot(t)
	checkEgress(t, upLab(t, Options{}))
}

// (3) A Geneve packet from the gateway (VNI 9, OVN option, inner dst = VM
// MAC) is delivered to the VM; a wrong VNI is dropped.
func TestIngressGeneve(t *testing.T) {
	needRoot(t)
	checkIngress(t, upLab(t, Options{}))
}

// Two labs up at once do not collide; both carry traffic.
func TestTwoLabs(t *testing.T) {
	needRoot(t)
	var labs [2]*Lab
	var errs [2]error
	var wg sync.WaitGroup
	for i := range labs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			labs[i], errs[i] = Up(context.Background(), Options{VMs: 2})
		}()
	}
	wg.Wait()
	for _, l := range labs {
		if l != nil {
			t.Cleanup(func() { l.Down() })
		}
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if labs[0].NS("gw") == labs[1].NS("gw") {
		t.Fatalf("same namespaces")
	}
	for _, l := range labs {
		if l.NS("vm2") == "" || len(l.Config().VMs) != 2 {
			t.Fatalf("no second VM in %+v", l.Config().Namespaces)
		}
		checkEgress(t, l)
		checkIngress(t, l)
	}
}

// checkEgress sends UDP from every VM to ext and checks the Geneve packet
// that OVS puts on the gateway's underlay interface.
func checkEgress(t *testing.T, l *Lab) {
	t.Helper()
	c := l.Config()
	ps, err := l.OpenPacketSocket("gw", c.GWUnderlay)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	for _, vm := range c.VMs {
		var uc *net.UDPConn
		if err := l.Do(vm.Role, func() (err error) {
			uc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: vm.IP.AsSlice()})
			return
		}); err != nil {
			t.Fatal(err)
		}
		payload := []byte("xgwlab egress " + vm.Role)
		frame := waitFrame(t, ps, func() {
			uc.WriteToUDPAddrPort(payload, netip.AddrPortFrom(c.ExtIP, 9))
		}, func(f []byte) bool { return bytes.Contains(f, payload) })
		uc.Close()
		if frame == nil {
			t.Fatalf("%s: no Geneve packet on %s", vm.Role, c.GWUnderlay)
		}
		g := checkOuter(t, frame, c.ChassisIP(), c.GatewayVTEP())
		if g.vni != JoinVNI || g.optClass != OVNOptionClass || g.optType != OVNOptionType || g.optValue != JoinOption {
			t.Errorf("%s: geneve %+v, want VNI %d option %#x/%#x=%#x", vm.Role, g, JoinVNI, OVNOptionClass, OVNOptionType, JoinOption)
		}
		in := gopacket.NewPacket(g.inner, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := in.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip, _ := in.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if eth == nil || ip == nil {
			t.Fatalf("%s: inner frame not eth/IPv4: %v", vm.Role, in)
		}
		if eth.SrcMAC.String() != c.DRJoinMAC.String() || eth.DstMAC.String() != c.GRJoinMAC.String() {
			t.Errorf("%s: inner eth %s -> %s, want %s -> %s", vm.Role, eth.SrcMAC, eth.DstMAC, c.DRJoinMAC, c.GRJoinMAC)
		}
		if ip.TTL != 63 || ip.SrcIP.String() != vm.IP.String() || ip.DstIP.String() != c.ExtIP.String() {
			t.Errorf("%s: inner IPv4 %s -> %s TTL %d, want %s -> %s TTL 63", vm.Role, ip.SrcIP, ip.DstIP, ip.TTL, vm.IP, c.ExtIP)
		}
	}
}

// waitFrame calls send every 100 ms and returns the first frame that match
// accepts, or nil after 5 s.
func waitFrame(t *testing.T, ps *PacketSocket, send func(), match func([]byte) bool) []byte {
	t.Helper()
	buf := make([]byte, 9000)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		send()
		for until := time.Now().Add(100 * time.Millisecond); time.Now().Before(until); {
			n, _, err := ps.Read(buf, 50*time.Millisecond)
			if errors.Is(err, ErrTimeout) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if match(buf[:n]) {
				return append([]byte(nil), buf[:n]...)
			}
		}
	}
	return nil
}

type geneveInfo struct {
	vni               uint32
	optClass          uint16
	optType           uint8
	optValue          uint32
	critical, hasCsum bool
	inner             []byte
}

// checkOuter checks outer eth/IP/UDP (IPv4, or IPv6 on an IPv6 underlay;
// dst port 6081, valid non-zero UDP checksum) and parses the Geneve header
// by hand (RFC 8926).
func checkOuter(t *testing.T, frame []byte, src, dst netip.Addr) geneveInfo {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Lazy)
	var srcIP, dstIP net.IP
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		srcIP, dstIP = ip.SrcIP, ip.DstIP
	case *layers.IPv6:
		srcIP, dstIP = ip.SrcIP, ip.DstIP
	}
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if srcIP == nil || udp == nil {
		t.Fatalf("not IP/UDP: %v", p)
	}
	if srcIP.String() != src.String() || dstIP.String() != dst.String() || udp.DstPort != GenevePort {
		t.Fatalf("outer %s -> %s:%d, want %s -> %s:%d", srcIP, dstIP, udp.DstPort, src, dst, GenevePort)
	}
	ip := struct{ SrcIP, DstIP net.IP }{srcIP, dstIP}
	var g geneveInfo
	if udp.Checksum == 0 {
		t.Errorf("outer UDP checksum absent (csum=true)")
	} else if sum := udpChecksum(ip.SrcIP, ip.DstIP, append(append([]byte(nil), udp.Contents...), udp.Payload...)); sum != 0 {
		t.Errorf("outer UDP checksum %#04x does not verify", udp.Checksum)
	}
	g.hasCsum = udp.Checksum != 0
	b := udp.Payload
	if len(b) < 8 || b[0]>>6 != 0 || binary.BigEndian.Uint16(b[2:]) != 0x6558 {
		t.Fatalf("bad Geneve header % x", b[:min(len(b), 8)])
	}
	optLen := int(b[0]&0x3f) * 4
	g.critical = b[1]&0x40 != 0
	g.vni = binary.BigEndian.Uint32(b[4:]) >> 8
	opts := b[8 : 8+optLen]
	if len(opts) != 8 {
		t.Fatalf("want exactly one 4-byte option, got % x", opts)
	}
	g.optClass = binary.BigEndian.Uint16(opts)
	g.optType = opts[2]
	if l := opts[3] & 0x1f; l != 1 {
		t.Fatalf("option length %d words, want 1", l)
	}
	g.optValue = binary.BigEndian.Uint32(opts[4:])
	g.inner = b[8+optLen:]
	return g
}

// udpChecksum folds the one's-complement sum over pseudo header and
// segment; 0 means the segment's checksum verifies.
func udpChecksum(src, dst net.IP, seg []byte) uint16 {
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	// IPv4's pseudo header, or IPv6's (RFC 8200 8.1): the same sum, the
	// addresses' sizes apart.
	if src.To4() != nil {
		add(src.To4())
		add(dst.To4())
	} else {
		add(src.To16())
		add(dst.To16())
	}
	s += 17 + uint32(len(seg))
	add(seg)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// buildGeneve returns the frame the gateway would send toward the VM.
func buildGeneve(t *testing.T, c LabAddrs, vm VM, vni uint32, payload []byte) []byte {
	t.Helper()
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	iip := &layers.IPv4{Version: 4, TTL: 62, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment,
		SrcIP: c.ExtIP.AsSlice(), DstIP: vm.IP.AsSlice()}
	iudp := &layers.UDP{SrcPort: 5555, DstPort: 7777}
	iudp.SetNetworkLayerForChecksum(iip)
	inner := ser(&layers.Ethernet{SrcMAC: c.VMGWMAC, DstMAC: vm.MAC, EthernetType: layers.EthernetTypeIPv4},
		iip, iudp, gopacket.Payload(payload))
	// Geneve: version 0, 2 words of options, C (critical option present),
	// protocol TEB, VNI; option class 0x0102 type 0x80 len 1 word, value
	// inport dr-sw1 (1) << 16 | outport (the VM's key).
	gnv := []byte{0x02, 0x40, 0x65, 0x58, byte(vni >> 16), byte(vni >> 8), byte(vni), 0,
		0x01, 0x02, 0x80, 0x01, 0, 1, byte(vm.PortKey >> 8), byte(vm.PortKey)}
	oip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment,
		SrcIP: c.VTEPIP.AsSlice(), DstIP: c.HVUnderlayIP.AsSlice()}
	oudp := &layers.UDP{SrcPort: 49152, DstPort: GenevePort}
	oudp.SetNetworkLayerForChecksum(oip)
	return ser(&layers.Ethernet{SrcMAC: c.GWUnderlayMAC, DstMAC: c.HVUnderlayMAC, EthernetType: layers.EthernetTypeIPv4},
		oip, oudp, gopacket.Payload(append(gnv, inner...)))
}

// checkIngress checks that the hypervisor answers ARP for its underlay IP
// with br-phy's MAC, then injects Geneve from ns gw and receives it in
// every VM.
func checkIngress(t *testing.T, l *Lab) {
	t.Helper()
	c := l.Config()
	// The gateway's kernel resolves 192.0.2.2 the way xgw will.
	var probe *net.UDPConn
	if err := l.Do("gw", func() (err error) {
		probe, err = net.ListenUDP("udp4", &net.UDPAddr{IP: c.VTEPIP.AsSlice()})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	resolved := false
	for i := 0; i < 50 && !resolved; i++ {
		probe.WriteToUDPAddrPort([]byte("arp?"), netip.AddrPortFrom(c.HVUnderlayIP, 9))
		time.Sleep(20 * time.Millisecond)
		out, _ := l.Exec("gw", "ip", "neigh", "show", c.HVUnderlayIP.String(), "dev", c.GWUnderlay).Output()
		resolved = strings.Contains(string(out), c.HVUnderlayMAC.String())
	}
	if !resolved {
		out, _ := l.Exec("gw", "ip", "neigh").CombinedOutput()
		out2, _ := l.Exec("hv", "ovs-ofctl", "dump-flows", "br-phy").CombinedOutput()
		out3, _ := l.Exec("hv", "ip", "-s", "link").CombinedOutput()
		t.Errorf("ns gw did not resolve %s to %s: %s\n%s\n%s", c.HVUnderlayIP, c.HVUnderlayMAC, out, out2, out3)
	}

	ps, err := l.OpenPacketSocket("gw", c.GWUnderlay)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	for _, vm := range c.VMs {
		var uc *net.UDPConn
		if err := l.Do(vm.Role, func() (err error) {
			uc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: vm.IP.AsSlice(), Port: 7777})
			return
		}); err != nil {
			t.Fatal(err)
		}
		payload := []byte("xgwlab ingress " + vm.Role)
		frame := buildGeneve(t, c, vm, SwitchVNI, payload)
		buf := make([]byte, 2000)
		got := false
		for deadline := time.Now().Add(5 * time.Second); !got && time.Now().Before(deadline); {
			if err := ps.Write(frame); err != nil {
				t.Fatal(err)
			}
			uc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, from, err := uc.ReadFromUDPAddrPort(buf)
			if err == nil {
				if string(buf[:n]) != string(payload) || from != netip.AddrPortFrom(c.ExtIP, 5555) {
					t.Fatalf("%s: got %q from %v", vm.Role, buf[:n], from)
				}
				got = true
			}
		}
		if !got {
			t.Fatalf("%s: injected Geneve (VNI %d) never reached the VM", vm.Role, SwitchVNI)
		}
		// The join switch's VNI is not delivered to VMs.
		if err := ps.Write(buildGeneve(t, c, vm, JoinVNI, []byte("wrong vni"))); err != nil {
			t.Fatal(err)
		}
		uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := uc.ReadFromUDPAddrPort(buf); err == nil {
			t.Errorf("%s: VNI %d delivered: %q", vm.Role, JoinVNI, buf[:n])
		}
		uc.Close()
	}
}

// The generated xgw config carries the seed's keys, MACs and NAT.
func TestXGWConfig(t *testing.T) {
	l := &Lab{addrs: newAddrs("cfgtest", "/nonexistent", 2)}
	b, err := l.XGWConfig()
	if err != nil {
		t.Fatal(err)
	}
	var c xgwConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Interfaces.Underlay.Name != "gw-u" || c.Interfaces.Underlay.VTEPIP != "192.0.2.1" || c.Interfaces.External.Name != "gw-x" {
		t.Errorf("interfaces %+v", c.Interfaces)
	}
	if len(c.Switches) != 2 || c.Switches[0].Key != 1 || c.Switches[1].Key != 9 || len(c.Switches[1].Ports) != 3 {
		t.Fatalf("switches %+v", c.Switches)
	}
	if p := c.Switches[1].Ports[1]; p.Key != 2 || p.MAC != "00:00:19:91:00:10" || p.IP != "10.199.100.10" || p.Chassis != HVChassis {
		t.Errorf("vm1 port %+v", p)
	}
	gr := c.Routers[1]
	if gr.Zones == nil || gr.Zones.DNAT != 6 || gr.Zones.SNAT != 16 || gr.Ports[1].MAC != "ae:a9:a9:0c:6f:c8" || !gr.Ports[1].External ||
		len(gr.NAT) != 1 || gr.NAT[0].ExternalIP != "203.0.113.10" || gr.Routes[1].NextHop != "198.51.100.2" {
		t.Errorf("gr1 %+v", gr)
	}
}

// SIGINT to a process with a lab up tears the lab down, then the process
// dies of the signal. The helper below is that process.
func TestSignalTearsDown(t *testing.T) {
	needRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "XGWLAB_SIGNAL_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	name := ""
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "LAB "); ok {
			name = n
			break
		}
	}
	if name == "" {
		t.Fatal("helper did not bring a lab up")
	}
	t.Cleanup(func() { DownByName(name); os.RemoveAll(DefaultWorkDir(name)) })
	if nss, _ := labNamespaces(name); len(nss) != 4 {
		t.Fatalf("helper's lab has namespaces %v", nss)
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for sc.Scan() {
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Errorf("helper exit: %v, want killed by SIGINT", err)
	}
	if nss, _ := labNamespaces(name); len(nss) != 0 {
		t.Errorf("namespaces left after SIGINT: %v", nss)
	}
	if p := procsMentioning(DefaultWorkDir(name)); len(p) != 0 {
		t.Errorf("processes left after SIGINT: %v", p)
	}
}

func TestSignalHelper(t *testing.T) {
	if os.Getenv("XGWLAB_SIGNAL_HELPER") == "" {
		t.Skip("helper process for TestSignalTearsDown")
	}
	l, err := Up(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartUDPSink(9000); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LAB %s\n", l.Name())
	time.Sleep(30 * time.Second)
	l.Down()
	t.Fatal("no signal came")
}

// The generated config is accepted by xgw's own config package, with the
// lab's interfaces, keys and NAT.
func TestXGWConfigParses(t *testing.T) {
	l := &Lab{addrs: newAddrs("cfgtest", "/run/xgwlab-test", 2)}
	b, err := l.XGWConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(b)
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, b)
	}
	if c.Interfaces.Underlay.Name != GWUnderlayIface || c.Interfaces.External.Name != GWExternalIface ||
		len(c.Switches[1].Ports) != 3 || c.Control.Socket != "/run/xgwlab-test/xgw.sock" {
		t.Errorf("parsed %+v", c)
	}
}
