package lab

import "fmt"

// dualStack adds the dual-stack lab's IPv6 to the xgw config c that
// XGWConfig built for IPv4 (nothing in an IPv4 lab), as
// examples/dual-stack.yaml does: each port's second network, the VMs'
// second address, sw2 with vmr (IPv6 only), the IPv6 routes, NAT66 for sw1's
// unique-local prefix, a dnat_and_snat for vm2 (with two VMs or more), and
// no rule for sw2's prefix: routed without NAT. With Underlay6 the chassis'
// encap IP is IPv6 (ChassisIP) and the config gets vtep_ip6.
func (a *LabAddrs) dualStack(c *xgwConfig) {
	v6 := a.V6
	if v6 == nil {
		return
	}
	if v6.Underlay6 {
		c.Interfaces.Underlay.VTEPIP6 = v6.VTEPIP.String()
	}
	both := func(v4, v6 string) string { return v4 + " " + v6 }
	for si := range c.Switches {
		sw := &c.Switches[si]
		if sw.Key != SwitchVNI {
			continue
		}
		for pi := range sw.Ports {
			p := &sw.Ports[pi]
			for i, vm := range a.VMs {
				if p.Key == vm.PortKey && p.RouterPort == "" {
					p.IP = both(p.IP, v6.VMIPs[i].String())
				}
			}
		}
	}
	vmr := v6.RoutedVM
	c.Switches = append(c.Switches, xgwSwitch{Name: "sw2", Key: RoutedSwitchVNI, Ports: []xgwSwitchPort{
		{Name: "dr-sw2", Key: 1, RouterPort: "dr-sw2"},
		{Name: vmr.Role, Key: vmr.PortKey, MAC: vmr.MAC.String(), IP: v6.RoutedIP.String(), Chassis: HVChassis},
	}})
	for ri := range c.Routers {
		r := &c.Routers[ri]
		for pi := range r.Ports {
			p := &r.Ports[pi]
			switch p.Name {
			case "dr-join":
				p.IP = both(p.IP, v6.DRJoinIP.String())
			case "dr-sw1":
				p.IP = both(p.IP, fmt.Sprintf("%s/%d", v6.VMGateway, v6.VMPrefix.Bits()))
			case "gr1-join":
				p.IP = both(p.IP, v6.GRJoinIP.String())
			case "gr1-ext":
				p.IP = both(p.IP, v6.GWExternalIP.String())
			}
		}
		switch r.Name {
		case "dr":
			r.Ports = append(r.Ports, xgwRouterPort{Name: "dr-sw2", MAC: v6.RoutedGWMAC.String(),
				IP: fmt.Sprintf("%s/%d", v6.RoutedGateway, v6.RoutedPrefix.Bits())})
			r.Routes = append(r.Routes, xgwRoute{Prefix: "::/0", NextHop: v6.GRJoinIP.Addr().String()})
		case "gr1":
			r.Routes = append(r.Routes,
				xgwRoute{Prefix: v6.VMPrefix.String(), NextHop: v6.DRJoinIP.Addr().String()},
				xgwRoute{Prefix: v6.RoutedPrefix.String(), NextHop: v6.DRJoinIP.Addr().String()},
				xgwRoute{Prefix: "::/0", NextHop: v6.ExtIP.String()})
			r.NAT = append(r.NAT, xgwNAT{Type: "snat", LogicalIP: v6.VMPrefix.String(), ExternalIP: v6.SNATIP.String()})
			if v6.DNATVM >= 0 {
				r.NAT = append(r.NAT, xgwNAT{Type: "dnat_and_snat", LogicalIP: v6.VMIPs[v6.DNATVM].String(), ExternalIP: v6.DNATIP.String()})
			}
		}
	}
}
