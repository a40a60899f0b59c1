package lab

import (
	"context"
	"fmt"
	"strings"
)

// buildNetwork creates the namespaces, veths, addresses and routes. Veths are
// created directly inside their namespaces (`ip link add ... peer ... netns`),
// so their fixed names never appear in, or collide within, the root namespace.
func (l *Lab) buildNetwork(ctx context.Context) error {
	a := &l.addrs
	roles := []string{"hv", "gw", "ext"}
	for _, vm := range a.VMs {
		roles = append(roles, vm.Role)
	}
	if a.V6 != nil {
		roles = append(roles, RoutedVMRole)
	}
	var b strings.Builder
	for _, r := range roles {
		fmt.Fprintf(&b, "netns add %s\n", l.NS(r))
	}
	if err := l.run(ctx, b.String(), "ip", "-batch", "-"); err != nil {
		return err
	}

	// Before any link exists: no IPv6 (router solicitations and DAD would
	// pollute captures), no forwarding (in ns gw xgw forwards, never Linux).
	// In ns hv, arp_ignore=1: the kernel sees the frames of the veths that
	// OVS owns too, and would otherwise answer ARP for br-phy's 192.0.2.2
	// out of hv-u with hv-u's MAC, racing br-phy's own (right) answer.
	for _, r := range roles {
		args := []string{"sysctl", "-q", "-e", "-w",
			"net.ipv6.conf.all.disable_ipv6=1",
			"net.ipv6.conf.default.disable_ipv6=1",
			"net.ipv4.ip_forward=0"}
		if r == "hv" {
			args = append(args, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.default.arp_ignore=1")
		}
		args = append(args, l.quietIPv6()...)
		if err := l.nsRun(ctx, r, args...); err != nil {
			return err
		}
	}

	batch := func(role, script string) error {
		return l.run(ctx, script, "ip", "-n", l.NS(role), "-batch", "-")
	}
	// VMs, each with its peer port on br-int in ns hv.
	for _, vm := range a.VMs {
		if err := batch(vm.Role, fmt.Sprintf(`link set lo up
link add %[1]s mtu %[2]d address %[3]s type veth peer name %[4]s mtu %[2]d netns %[5]s
link set %[1]s up
addr add %[6]s/%[7]d dev %[1]s
route add default via %[8]s dev %[1]s
`, vm.Iface, VMMTU, vm.MAC, vm.HVPort, a.Namespaces["hv"], vm.IP, a.VMPrefix.Bits(), a.VMGateway)); err != nil {
			return err
		}
	}
	// Underlay hv ↔ gw and external gw ↔ ext.
	if err := batch("gw", fmt.Sprintf(`link set lo up
link add %[1]s mtu %[2]d address %[3]s type veth peer name %[4]s mtu %[2]d netns %[5]s
link add %[6]s address %[7]s type veth peer name %[8]s address %[9]s netns %[10]s
addr add %[11]s/%[12]d dev %[1]s
addr add %[13]s dev %[6]s
link set %[1]s up
link set %[6]s up
`, GWUnderlayIface, UnderlayMTU, a.GWUnderlayMAC, HVUnderlayIface, a.Namespaces["hv"],
		GWExternalIface, a.GWExternalMAC, ExtIface, a.ExtMAC, a.Namespaces["ext"],
		a.VTEPIP, a.UnderlayNet.Bits(), a.GWExternalIP)); err != nil {
		return err
	}
	var hv strings.Builder
	hv.WriteString("link set lo up\n")
	fmt.Fprintf(&hv, "link set %s up\n", HVUnderlayIface)
	for _, vm := range a.VMs {
		fmt.Fprintf(&hv, "link set %s up\n", vm.HVPort)
	}
	if err := batch("hv", hv.String()); err != nil {
		return err
	}
	if err := batch("ext", fmt.Sprintf(`link set lo up
addr add %[1]s/%[2]d dev %[3]s
link set %[3]s up
route add %[4]s/32 via %[5]s dev %[3]s
`, a.ExtIP, a.GWExternalIP.Bits(), ExtIface, a.SNATIP, a.GWExternalIP.Addr())); err != nil {
		return err
	}

	// Offloads off on every lab veth: no partial checksums, no
	// super-packets, in AF_PACKET (OVS), XDP or AF_XDP.
	offload := func(role string, ifaces ...string) error { return l.offloadOff(ctx, role, ifaces...) }
	hvIfs := []string{HVUnderlayIface}
	for _, vm := range a.VMs {
		if err := offload(vm.Role, vm.Iface); err != nil {
			return err
		}
		hvIfs = append(hvIfs, vm.HVPort)
	}
	if err := offload("hv", hvIfs...); err != nil {
		return err
	}
	if err := offload("gw", GWUnderlayIface, GWExternalIface); err != nil {
		return err
	}
	return offload("ext", ExtIface)
}
