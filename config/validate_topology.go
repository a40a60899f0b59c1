package config

import (
	"fmt"
	"net/netip"

	"github.com/xgw-dev/xgw/packet"
)

// routers checks names, ports and zones, and indexes router ports by name
// for the switches that attach them.
func (v *validator) routers() {
	v.portByName = map[string]portRef{}
	names := map[string]int{}
	zones := map[uint16]string{}
	for ri, r := range v.c.Routers {
		path := fmt.Sprintf("routers[%d]", ri)
		if v.required(path+".name", r.Name) {
			if first, dup := names[r.Name]; dup {
				v.p.add(path+".name", "router %q is also routers[%d]", r.Name, first)
			}
			names[r.Name] = ri
		}
		if len(r.Ports) == 0 {
			v.p.add(path+".ports", "a router needs at least one port")
		}
		var subnets []netip.Prefix
		external := 0
		for pi, rp := range r.Ports {
			pp := fmt.Sprintf("%s.ports[%d]", path, pi)
			if v.required(pp+".name", rp.Name) {
				// Names are global: switches refer to router ports by name alone.
				if first, dup := v.portByName[rp.Name]; dup {
					v.p.add(pp+".name", "router port %q is also %s", rp.Name, first.path())
				} else {
					v.portByName[rp.Name] = portRef{ri, pi}
				}
			}
			if v.required(pp+".mac", string(rp.MAC)) {
				_, err := rp.MAC.Parse()
				v.p.check(pp+".mac", err)
			}
			// subnets holds two entries per port, IPv4 then IPv6; Overlaps
			// is false across families, so one list serves both.
			var v4, v6 netip.Prefix
			if v.required(pp+".ip", string(rp.IP)) {
				var err error
				v4, v6, err = rp.IP.Networks()
				v.p.check(pp+".ip", err)
				for _, pfx := range []netip.Prefix{v4, v6} {
					if !pfx.IsValid() {
						continue
					}
					for qi, q := range subnets {
						if q.IsValid() && q.Overlaps(pfx.Masked()) {
							v.p.add(pp+".ip", "subnet %s overlaps that of %s.ports[%d]; routing would be ambiguous", pfx.Masked(), path, qi/2)
						}
					}
				}
			}
			subnets = append(subnets, v4.Masked(), v6.Masked())
			if rp.External {
				external++
				if r.Distributed {
					v.p.add(pp+".external", "a distributed router has no external port; only gateway routers reach the outside")
				}
			}
			switch {
			case rp.RedirectKey != 0 && (!rp.External || r.Key == 0):
				v.p.add(pp+".redirect_key", "only the external port of a router with a key (a distributed gateway port) has a redirect key")
			case rp.RedirectKey > 0x7fff:
				v.p.add(pp+".redirect_key", "%d is not a port key 1..32767", rp.RedirectKey)
			case rp.External && r.Key != 0 && rp.RedirectKey == 0:
				v.p.add(pp+".redirect_key", "required: the external port of a router with a key is a distributed gateway port, reached by its chassisredirect port key")
			}
		}
		v.routerKey(path, r)
		if !r.Distributed && len(r.Ports) > 0 && external != 1 {
			v.p.add(path+".ports", "a gateway router needs exactly one external port, has %d", external)
		}
		if !r.Distributed && len(r.Ports) > 0 && external == len(r.Ports) {
			v.p.add(path+".ports", "a gateway router needs at least one join port (a port attached to a switch)")
		}
		v.zones(path, r, zones)
	}
}

// routerKey checks the datapath key of a router served through a
// distributed gateway port: a VNI no switch or other router uses (OVN's
// datapath keys are one space).
func (v *validator) routerKey(path string, r Router) {
	if r.Key == 0 {
		return
	}
	if v.routerVNIs == nil {
		v.routerVNIs = map[uint32]string{}
	}
	switch first, dup := v.routerVNIs[r.Key]; {
	case r.Distributed:
		v.p.add(path+".key", "a distributed router served through a gateway router has no key; only a router with a distributed gateway port has one")
	case r.Key > 1<<24-1:
		v.p.add(path+".key", "%d is not a tunnel key (VNI) 1..16777215", r.Key)
	case dup:
		v.p.add(path+".key", "VNI %d is also %s", r.Key, first)
	default:
		v.routerVNIs[r.Key] = path
	}
}

// zones checks a router's conntrack zones. Every router has its own pair:
// two tenants behind two gateway routers may use the same addresses, and
// only the zone keeps their connections apart.
func (v *validator) zones(path string, r Router, seen map[uint16]string) {
	z := r.Zones
	if r.Distributed && z.DNAT == 0 && z.SNAT == 0 {
		return // a distributed router does no NAT here and needs none
	}
	for _, f := range []struct {
		key  string
		zone uint16
	}{{"dnat", z.DNAT}, {"snat", z.SNAT}} {
		fp := path + ".zones." + f.key
		if f.zone == 0 {
			v.p.add(fp, "required: a zone 1..65535")
			continue
		}
		if other, dup := seen[f.zone]; dup {
			v.p.add(fp, "zone %d is also %s; each router needs its own zones because tenants reuse addresses", f.zone, other)
			continue
		}
		seen[f.zone] = fp
	}
}

// switches checks switch keys, port keys and the ports themselves, and
// records which router ports are attached where.
func (v *validator) switches() {
	v.attachedAt = map[string]string{}
	names := map[string]int{}
	vnis := map[uint32]int{}
	for si, sw := range v.c.Switches {
		path := fmt.Sprintf("switches[%d]", si)
		if v.required(path+".name", sw.Name) {
			if first, dup := names[sw.Name]; dup {
				v.p.add(path+".name", "switch %q is also switches[%d]", sw.Name, first)
			}
			names[sw.Name] = si
		}
		switch first, dup := vnis[sw.Key]; {
		case sw.Key == 0 || sw.Key > 1<<24-1:
			v.p.add(path+".key", "%d is not a tunnel key (VNI) 1..16777215", sw.Key)
		case dup:
			v.p.add(path+".key", "VNI %d is also switches[%d]", sw.Key, first)
		case v.routerVNIs[sw.Key] != "":
			v.p.add(path+".key", "VNI %d is also %s.key", sw.Key, v.routerVNIs[sw.Key])
		default:
			vnis[sw.Key] = si
		}
		if len(sw.Ports) == 0 {
			v.p.add(path+".ports", "a switch needs at least one port")
		}
		v.switchPorts(path, sw)
	}
}

// switchPorts checks the ports of one switch. MACs and IPs (of either
// family) must be unique on a switch: (VNI, MAC) selects a router port
// and (switch, IP) a VM.
func (v *validator) switchPorts(path string, sw Switch) {
	pnames := map[string]int{}
	keys := map[uint16]int{}
	macs := map[packet.MAC]string{}
	ips := map[netip.Addr]string{}
	var subnets []netip.Prefix // of router ports on this switch, both families
	var vms []int
	claim := func(fp string, mac packet.MAC, addrs ...netip.Addr) {
		if other, dup := macs[mac]; dup {
			v.p.add(fp, "MAC %s is also used by %s on this switch", mac, other)
		}
		macs[mac] = fp
		for _, ip := range addrs {
			if !ip.IsValid() {
				continue
			}
			if other, dup := ips[ip]; dup {
				v.p.add(fp, "IP %s is also used by %s on this switch", ip, other)
			}
			ips[ip] = fp
		}
	}
	for pi, sp := range sw.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", path, pi)
		if v.required(pp+".name", sp.Name) {
			if first, dup := pnames[sp.Name]; dup {
				v.p.add(pp+".name", "port %q is also %s.ports[%d]", sp.Name, path, first)
			}
			pnames[sp.Name] = pi
		}
		// OVN port keys are 15 bits; 0x8000 and up are multicast groups.
		switch first, dup := keys[sp.Key]; {
		case sp.Key == 0 || sp.Key > 0x7fff:
			v.p.add(pp+".key", "%d is not a port key 1..32767", sp.Key)
		case dup:
			v.p.add(pp+".key", "key %d is also %s.ports[%d]", sp.Key, path, first)
		default:
			keys[sp.Key] = pi
		}
		if !sp.IsRouter() {
			vms = append(vms, pi)
			continue
		}
		for _, f := range []struct{ key, val string }{{"mac", string(sp.MAC)}, {"ip", string(sp.IP)}, {"chassis", sp.Chassis}} {
			if f.val != "" {
				v.p.add(pp+"."+f.key, "not allowed on a router attachment: it comes from router port %q", sp.RouterPort)
			}
		}
		ref, ok := v.portByName[sp.RouterPort]
		if !ok {
			v.p.add(pp+".router_port", "no router port named %q", sp.RouterPort)
			continue
		}
		rp := v.c.Routers[ref.router].Ports[ref.port]
		if rp.External {
			v.p.add(pp+".router_port", "%q is an external port; it is on the physical network, not on a switch", sp.RouterPort)
			continue
		}
		if other, dup := v.attachedAt[sp.RouterPort]; dup {
			v.p.add(pp+".router_port", "%q is already attached at %s", sp.RouterPort, other)
			continue
		}
		v.attachedAt[sp.RouterPort] = pp
		v4, v6, err := rp.IP.Networks()
		if err != nil {
			continue // reported with the router
		}
		for _, pfx := range []netip.Prefix{v4, v6} {
			if pfx.IsValid() {
				subnets = append(subnets, pfx.Masked())
			}
		}
		claim(pp+".router_port", rp.MAC.Value(), v4.Addr(), v6.Addr())
	}
	for _, pi := range vms {
		v.vmPort(fmt.Sprintf("%s.ports[%d]", path, pi), sw.Ports[pi], subnets, claim)
	}
}

// vmPort checks a logical port bound to a chassis: each of its addresses
// (one per family) must be in the subnet of a router port on the switch.
func (v *validator) vmPort(pp string, sp SwitchPort, subnets []netip.Prefix, claim func(string, packet.MAC, ...netip.Addr)) {
	var mac packet.MAC
	var v4, v6 netip.Addr
	var err error
	okMAC, okIP := false, false
	if v.required(pp+".mac", string(sp.MAC)) {
		mac, err = sp.MAC.Parse()
		v.p.check(pp+".mac", err)
		okMAC = err == nil
	}
	if v.required(pp+".ip", string(sp.IP)) {
		v4, v6, err = sp.IP.Parse()
		if err == nil && v6.IsValid() {
			err = unicast6("a VM's address", v6)
		}
		v.p.check(pp+".ip", err)
		okIP = err == nil
	}
	if v.required(pp+".chassis", sp.Chassis) && !v.chassisByNm[sp.Chassis] {
		v.p.add(pp+".chassis", "no chassis named %q", sp.Chassis)
	}
	if !okMAC || !okIP {
		return
	}
	for _, ip := range []netip.Addr{v4, v6} {
		if !ip.IsValid() {
			continue
		}
		reachable := false
		for _, s := range subnets {
			reachable = reachable || s.Contains(ip)
		}
		if !reachable {
			v.p.add(pp+".ip", "%s is not in the subnet of any router port on this switch, so nothing can route to it", ip)
		}
	}
	claim(pp, mac, v4, v6)
}

// attachments checks that every non-external router port is on a switch:
// otherwise the gateway could route to a port it cannot deliver on.
func (v *validator) attachments() {
	for ri, r := range v.c.Routers {
		for pi, rp := range r.Ports {
			if rp.External || rp.Name == "" {
				continue
			}
			if ref := v.portByName[rp.Name]; ref != (portRef{ri, pi}) {
				continue // a duplicate name, reported already
			}
			if _, ok := v.attachedAt[rp.Name]; !ok {
				v.p.add(fmt.Sprintf("routers[%d].ports[%d].name", ri, pi),
					"router port %q is on no switch; add a switch port with router_port: %s (or mark it external)", rp.Name, rp.Name)
			}
		}
	}
}

// routes checks static routes: a valid, unique prefix and a next hop of
// the same family that a connected subnet of the router reaches.
func (v *validator) routes() {
	for ri, r := range v.c.Routers {
		seen := map[netip.Prefix]int{}
		for ki, rt := range r.Routes {
			path := fmt.Sprintf("routers[%d].routes[%d]", ri, ki)
			var pfx netip.Prefix
			if v.required(path+".prefix", string(rt.Prefix)) {
				var err error
				pfx, err = rt.Prefix.Parse()
				v.p.check(path+".prefix", err)
				if err == nil {
					if first, dup := seen[pfx]; dup {
						v.p.add(path+".prefix", "%s is also routes[%d]", pfx, first)
					}
					seen[pfx] = ki
				}
			}
			if !v.required(path+".nexthop", string(rt.NextHop)) {
				continue
			}
			nh, err := rt.NextHop.Parse()
			if err != nil {
				v.p.check(path+".nexthop", err)
				continue
			}
			if pfx.IsValid() && pfx.Addr().Is4() != nh.Is4() {
				v.p.add(path+".nexthop", "%s is %s but prefix %s is %s; a route's next hop is of its prefix's family",
					nh, family(nh), pfx, family(pfx.Addr()))
				continue
			}
			if nh.Is6() {
				if err := unicast6("a next hop here (routes carry no output port to scope a link-local one)", nh); err != nil {
					v.p.add(path+".nexthop", "%v", err)
					continue
				}
			}
			reachable := false
			for _, rp := range r.Ports {
				v4, v6, err := rp.IP.Networks()
				if err != nil {
					continue
				}
				for _, pfx := range []netip.Prefix{v4, v6} {
					if !pfx.IsValid() {
						continue
					}
					if pfx.Addr() == nh {
						v.p.add(path+".nexthop", "%s is router port %q itself", nh, rp.Name)
					}
					reachable = reachable || pfx.Masked().Contains(nh)
				}
			}
			if !reachable {
				v.p.add(path+".nexthop", "%s is not in the subnet of any port of router %q", nh, r.Name)
			}
		}
	}
}
