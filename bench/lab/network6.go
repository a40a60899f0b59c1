package lab

import (
	"context"
	"fmt"
	"strings"
)

// quietIPv6 returns the sysctls that keep IPv6 quiet in a dual-stack lab's
// namespaces, applied before any link exists so that every link inherits
// them: no router solicitations, no autoconfiguration, no accepted router
// advertisements, no duplicate address detection (tests never wait for
// DAD; addresses are also added nodad). IPv6 itself stays disabled by
// default (buildNetwork) and is enabled only on the interfaces that carry
// it (buildNetwork6). Nil in an IPv4 lab.
func (l *Lab) quietIPv6() []string {
	if l.addrs.V6 == nil {
		return nil
	}
	var out []string
	for _, scope := range []string{"all", "default"} {
		for _, kv := range []string{"accept_ra=0", "autoconf=0", "router_solicitations=0",
			"accept_dad=0", "dad_transmits=0", "forwarding=0"} {
			out = append(out, "net.ipv6.conf."+scope+"."+kv)
		}
	}
	return out
}

// enableIPv6 turns IPv6 on for the given interfaces of role (they inherit
// quietIPv6's settings).
func (l *Lab) enableIPv6(ctx context.Context, role string, ifaces ...string) error {
	args := []string{"sysctl", "-q", "-w"}
	for _, ifc := range ifaces {
		args = append(args, "net.ipv6.conf."+ifc+".disable_ipv6=0")
	}
	return l.nsRun(ctx, role, args...)
}

// buildNetwork6 adds the dual-stack lab's IPv6 to what buildNetwork built:
// the IPv6-only VM vmr with its veth into ns hv, and on every interface that
// carries IPv6 its addresses, routes and (in the VMs) a permanent neighbour
// for the distributed router's port, which OVS does not answer solicitations
// for (the IPv4 lab's ARP responder has no ND twin in plain OpenFlow). The
// underlay's IPv6 (gw-u, and br-phy once OVS made it: startOVS6) only with
// Underlay6. Nothing in an IPv4 lab.
func (l *Lab) buildNetwork6(ctx context.Context) error {
	a := &l.addrs
	v6 := a.V6
	if v6 == nil {
		return nil
	}
	batch := func(role, script string) error {
		return l.run(ctx, script, "ip", "-n", l.NS(role), "-batch", "-")
	}
	vmr := v6.RoutedVM
	if err := batch(vmr.Role, fmt.Sprintf(`link set lo up
link add %[1]s mtu %[2]d address %[3]s type veth peer name %[4]s mtu %[2]d netns %[5]s
`, vmr.Iface, VMMTU, vmr.MAC, vmr.HVPort, a.Namespaces["hv"])); err != nil {
		return err
	}
	if err := l.nsRun(ctx, "hv", "ip", "link", "set", vmr.HVPort, "up"); err != nil {
		return err
	}
	if err := l.offloadOff(ctx, vmr.Role, vmr.Iface); err != nil {
		return err
	}
	if err := l.offloadOff(ctx, "hv", vmr.HVPort); err != nil {
		return err
	}
	vm6 := func(role string, ip, gw fmt.Stringer, bits int, gwMAC fmt.Stringer) error {
		if err := l.enableIPv6(ctx, role, VMIface); err != nil {
			return err
		}
		return batch(role, fmt.Sprintf(`link set %[1]s up
addr add %[2]s/%[3]d dev %[1]s nodad
neigh replace %[4]s lladdr %[5]s dev %[1]s nud permanent
route add default via %[4]s dev %[1]s
`, VMIface, ip, bits, gw, gwMAC))
	}
	for i, vm := range a.VMs {
		if err := vm6(vm.Role, v6.VMIPs[i], v6.VMGateway, v6.VMPrefix.Bits(), a.VMGWMAC); err != nil {
			return err
		}
	}
	if err := vm6(vmr.Role, v6.RoutedIP, v6.RoutedGateway, v6.RoutedPrefix.Bits(), v6.RoutedGWMAC); err != nil {
		return err
	}

	gwIfs := []string{GWExternalIface}
	gw := fmt.Sprintf("addr add %s dev %s nodad\n", v6.GWExternalIP, GWExternalIface)
	if v6.Underlay6 {
		gwIfs = append(gwIfs, GWUnderlayIface)
		gw += fmt.Sprintf("addr add %s/%d dev %s nodad\n", v6.VTEPIP, v6.UnderlayNet.Bits(), GWUnderlayIface)
	}
	if err := l.enableIPv6(ctx, "gw", gwIfs...); err != nil {
		return err
	}
	if err := batch("gw", gw); err != nil {
		return err
	}
	// ext: the upstream router of the GR's external network. It routes
	// the NAT66 prefix and the routed tenant prefix to the GR's external
	// address, as 203.0.113.10 is routed for IPv4; DNATIP is on-link and
	// has no route or neighbour entry (ND must find the gateway).
	if err := l.enableIPv6(ctx, "ext", ExtIface); err != nil {
		return err
	}
	return batch("ext", fmt.Sprintf(`addr add %[1]s/%[2]d dev %[3]s nodad
route add %[4]s via %[5]s dev %[3]s
route add %[6]s via %[5]s dev %[3]s
`, v6.ExtIP, v6.GWExternalIP.Bits(), ExtIface, v6.SNATPrefix, v6.GWExternalIP.Addr(), v6.RoutedPrefix))
}

// offloadOff turns the veths' offloads off (and fails if the ones that
// matter stay on).
func (l *Lab) offloadOff(ctx context.Context, role string, ifaces ...string) error {
	var s strings.Builder
	for _, ifc := range ifaces {
		// Not every veth feature is fixed-able on every kernel; the
		// ones that matter (tx csum, tso, gso, gro) are checked below.
		fmt.Fprintf(&s, "ethtool -K %s rx off tx off tso off gso off gro off sg off >/dev/null 2>&1 || true\n", ifc)
		fmt.Fprintf(&s, "ethtool -k %s | grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload): on' && exit 1\n", ifc)
	}
	s.WriteString("exit 0\n")
	return l.nsRun(ctx, role, "sh", "-c", s.String())
}
