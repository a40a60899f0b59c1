package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// startOVS6 gives br-phy its IPv6 underlay address and OVS the route and
// neighbour for the gateway's IPv6 VTEP, when Geneve runs over IPv6
// (Underlay6): the IPv6 twin of the IPv4 setup in startOVS. IPv6 is enabled
// on br-phy alone (hv-u and the VM ports, which OVS owns, stay without it).
func (l *Lab) startOVS6(ctx context.Context) error {
	a := &l.addrs
	if a.V6 == nil || !a.V6.Underlay6 {
		return nil
	}
	v6 := a.V6
	if err := l.enableIPv6(ctx, "hv", "br-phy"); err != nil {
		return err
	}
	if err := l.nsRun(ctx, "hv", "ip", "-6", "addr", "add",
		fmt.Sprintf("%s/%d", v6.HVUnderlayIP, v6.UnderlayNet.Bits()), "dev", "br-phy", "nodad"); err != nil {
		return err
	}
	if err := l.ovsRouteAdd(ctx, v6.UnderlayNet.String()); err != nil {
		return err
	}
	return l.nsRun(ctx, "hv", "ovs-appctl", "tnl/neigh/set", "br-phy", v6.VTEPIP.String(), a.GWUnderlayMAC.String())
}

// flows6 appends the dual-stack lab's IPv6 rules to br-int's: per VM the
// IPv4 rules' twins (match ipv6 instead of ip; the actions are the same,
// dec_ttl decrements the hop limit), and vmr on sw2. The ingress rules
// deliver by VNI and MAC whatever the inner protocol, so IPv6 toward sw1's
// VMs needs none; vmr gets its own (VNI 10). Multicast from the VMs (MLD,
// solicitations) is dropped as same-subnet traffic is: OVN answers it on the
// hypervisor, it never reaches a gateway.
func (l *Lab) flows6(b *strings.Builder) {
	a := &l.addrs
	v6 := a.V6
	if v6 == nil {
		return
	}
	egress := func(vm VM, ip netip.Addr, prefix netip.Prefix) {
		fmt.Fprintf(b, "# %s IPv6: same-subnet and multicast traffic is out of scope\n", vm.Role)
		fmt.Fprintf(b, "priority=110,in_port=%d,ipv6,ipv6_dst=%s,actions=drop\n", vm.OFPort, prefix)
		fmt.Fprintf(b, "priority=110,in_port=%d,ipv6,ipv6_dst=ff00::/8,actions=drop\n", vm.OFPort)
		fmt.Fprintf(b, "# %s IPv6 egress: DR routes to the GR over the join switch (VNI %d, option %#x)\n", vm.Role, JoinVNI, JoinOption)
		fmt.Fprintf(b, "priority=100,in_port=%d,ipv6,dl_src=%s,ipv6_src=%s,actions="+
			"mod_dl_src:%s,mod_dl_dst:%s,dec_ttl,set_field:%d->tun_id,set_field:%#x->tun_metadata0,output:%d\n",
			vm.OFPort, vm.MAC, ip, a.DRJoinMAC, a.GRJoinMAC, JoinVNI, JoinOption, GenevePortOFPort)
	}
	for i, vm := range a.VMs {
		egress(vm, v6.VMIPs[i], v6.VMPrefix)
	}
	vmr := v6.RoutedVM
	egress(vmr, v6.RoutedIP, v6.RoutedPrefix)
	fmt.Fprintf(b, "# %s ingress: sw2 (VNI %d) delivers to the VM by MAC\n", vmr.Role, RoutedSwitchVNI)
	fmt.Fprintf(b, "priority=100,in_port=%d,tun_id=%d,dl_dst=%s,actions=output:%d\n",
		GenevePortOFPort, RoutedSwitchVNI, vmr.MAC, vmr.OFPort)
}
