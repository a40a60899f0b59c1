package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// startOVS starts the private OVS in ns hv and programs it as an OVN chassis
// would: br-phy (netdev) owns the underlay veth and the underlay IP on its
// internal port, br-int (netdev, fail-mode secure) holds the VM ports and the
// Geneve port, and OpenFlow rules play OVN's distributed router and switch.
func (l *Lab) startOVS(ctx context.Context) error {
	a := &l.addrs
	d := filepath.Join(a.WorkDir, "ovs")
	for _, sub := range []string{"run", "db", "log", "etc"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return err
		}
	}
	db := filepath.Join(d, "db", "conf.db")
	sock := "unix:" + filepath.Join(d, "run", "db.sock")
	if err := l.nsRun(ctx, "hv", "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	// Both daemons detach (so `xgw-lab up` can exit) and stay inside ns hv,
	// where Down finds and kills them.
	if err := l.nsRun(ctx, "hv", "ovsdb-server", db,
		"--remote=p"+sock, "--pidfile", "--detach", "--no-chdir",
		"--log-file", "-vconsole:off"); err != nil {
		return err
	}
	// --disable-system: no kernel datapath; --disable-system-route: OVS's
	// tunnel routing uses only the route we add below.
	if err := l.nsRun(ctx, "hv", "ovs-vswitchd", sock, "--pidfile", "--detach", "--no-chdir",
		"--log-file", "-vconsole:off", "--disable-system", "--disable-system-route"); err != nil {
		return err
	}
	vsctl := []string{"ovs-vsctl", "--timeout=10", "--", "init",
		"--", "add-br", "br-phy",
		"--", "set", "bridge", "br-phy", "datapath_type=netdev", "other-config:hwaddr=" + a.HVUnderlayMAC.String(),
		"--", "set", "interface", "br-phy", fmt.Sprintf("mtu_request=%d", UnderlayMTU),
		"--", "add-port", "br-phy", HVUnderlayIface,
		"--", "add-br", "br-int",
		"--", "set", "bridge", "br-int", "datapath_type=netdev", "fail-mode=secure",
		"--", "add-port", "br-int", GenevePortName,
		"--", "set", "interface", GenevePortName, "type=geneve",
		"options:remote_ip=" + a.GatewayVTEP().String(), "options:key=flow", "options:csum=true",
		fmt.Sprintf("ofport_request=%d", GenevePortOFPort),
	}
	if a.V6 != nil && a.V6.Underlay6 {
		vsctl = append(vsctl, "options:local_ip="+a.V6.HVUnderlayIP.String())
	}
	vms := a.VMs
	if a.V6 != nil {
		vms = append(vms[:len(vms):len(vms)], a.V6.RoutedVM)
	}
	for _, vm := range vms {
		vsctl = append(vsctl, "--", "add-port", "br-int", vm.HVPort,
			"--", "set", "interface", vm.HVPort, fmt.Sprintf("ofport_request=%d", vm.OFPort))
	}
	if err := l.nsRun(ctx, "hv", vsctl...); err != nil {
		return err
	}
	// The userspace tunnel's source: 192.0.2.2 on br-phy's internal port,
	// routed by OVS's own table; the gateway's MAC preset so that the first
	// packet is not lost to OVS's ARP resolution.
	if err := l.run(ctx, fmt.Sprintf("addr add %s/%d dev br-phy\nlink set br-phy up\n", a.HVUnderlayIP, a.UnderlayNet.Bits()),
		"ip", "-n", l.NS("hv"), "-batch", "-"); err != nil {
		return err
	}
	if err := l.ovsRouteAdd(ctx, a.UnderlayNet.String()); err != nil {
		return err
	}
	if err := l.startOVS6(ctx); err != nil {
		return err
	}
	for _, c := range [][]string{
		{"ovs-appctl", "tnl/neigh/set", "br-phy", a.VTEPIP.String(), a.GWUnderlayMAC.String()},
		{"ovs-ofctl", "add-tlv-map", "br-int", fmt.Sprintf("{class=0x%x,type=0x%x,len=4}->tun_metadata0", OVNOptionClass, OVNOptionType)},
	} {
		if err := l.nsRun(ctx, "hv", c...); err != nil {
			return err
		}
	}
	flows := filepath.Join(d, "br-int.flows")
	if err := os.WriteFile(flows, []byte(l.Flows()), 0o644); err != nil {
		return err
	}
	return l.nsRun(ctx, "hv", "ovs-ofctl", "add-flows", "br-int", flows)
}

// ovsRouteAdd adds a route to OVS's own tunnel routing table through
// br-phy. OVS learns br-phy's new address asynchronously (netlink); until it
// has, inserting the route fails with "Error while inserting route".
func (l *Lab) ovsRouteAdd(ctx context.Context, prefix string) error {
	for try := 0; ; try++ {
		err := l.nsRun(ctx, "hv", "ovs-appctl", "ovs/route/add", prefix, "br-phy")
		if err == nil {
			return nil
		}
		if try == 100 || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Flows returns br-int's OpenFlow rules (ovs-ofctl add-flows syntax): what
// ovn-controller would install for the DR + join switch on egress and sw1 on
// ingress, reduced to this topology.
func (l *Lab) Flows() string {
	a := &l.addrs
	gw4 := a.VMGateway.As4()
	var b strings.Builder
	b.WriteString("# default: drop\npriority=0,actions=drop\n")
	for _, vm := range a.VMs {
		fmt.Fprintf(&b, "# %s: ARP responder for the DR port %s (%s)\n", vm.Role, a.VMGateway, a.VMGWMAC)
		fmt.Fprintf(&b, "priority=200,in_port=%d,arp,arp_op=1,arp_tpa=%s,actions="+
			"move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:%s,load:0x2->NXM_OF_ARP_OP[],"+
			"move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"+
			"load:0x%s->NXM_NX_ARP_SHA[],load:0x%02x%02x%02x%02x->NXM_OF_ARP_SPA[],in_port\n",
			vm.OFPort, a.VMGateway, a.VMGWMAC, strings.ReplaceAll(a.VMGWMAC.String(), ":", ""), gw4[0], gw4[1], gw4[2], gw4[3])
		fmt.Fprintf(&b, "# %s: same-subnet traffic is out of scope\n", vm.Role)
		fmt.Fprintf(&b, "priority=110,in_port=%d,ip,nw_dst=%s,actions=drop\n", vm.OFPort, a.VMPrefix)
		fmt.Fprintf(&b, "# %s egress: DR routes to the GR over the join switch (VNI %d, option %#x)\n", vm.Role, JoinVNI, JoinOption)
		fmt.Fprintf(&b, "priority=100,in_port=%d,ip,dl_src=%s,nw_src=%s,actions="+
			"mod_dl_src:%s,mod_dl_dst:%s,dec_ttl,set_field:%d->tun_id,set_field:%#x->tun_metadata0,output:%d\n",
			vm.OFPort, vm.MAC, vm.IP, a.DRJoinMAC, a.GRJoinMAC, JoinVNI, JoinOption, GenevePortOFPort)
		fmt.Fprintf(&b, "# %s ingress: sw1 (VNI %d) delivers to the VM by MAC\n", vm.Role, SwitchVNI)
		fmt.Fprintf(&b, "priority=100,in_port=%d,tun_id=%d,dl_dst=%s,actions=output:%d\n",
			GenevePortOFPort, SwitchVNI, vm.MAC, vm.OFPort)
	}
	l.flows6(&b)
	return b.String()
}
