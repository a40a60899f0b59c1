package config

import (
	"fmt"
	"net/netip"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// nat checks each router's NAT rules: NAT44 or NAT66, never across
// families (OVN translates within a family), with addresses that can be
// routed. An IPv6 prefix that no rule covers is routed without NAT.
func (v *validator) nat() {
	for ri, r := range v.c.Routers {
		rules := map[string]int{}         // type + logical_ip -> rule index
		dnatTo := map[netip.Addr]string{} // external IP -> logical IP it DNATs to
		for ni, n := range r.NAT {
			path := fmt.Sprintf("routers[%d].nat[%d]", ri, ni)
			if r.Distributed {
				v.p.add(path, "NAT belongs on a gateway router; a distributed router's NAT runs on the hypervisors")
			}
			kind, err := n.Type.Parse()
			if n.Type == "" {
				v.p.add(path+".type", "required: snat, dnat or dnat_and_snat")
			} else {
				v.p.check(path+".type", err)
			}
			logical := v.natLogical(path, n, kind)
			ext := v.natExternal(path, n)
			if logical.IsValid() && ext.IsValid() && logical.Addr().Is4() != ext.Is4() {
				v.p.add(path+".external_ip", "%s is %s but logical_ip %s is %s: NAT translates within one family (NAT44 or NAT66)",
					ext, family(ext), logical, family(logical.Addr()))
				ext = netip.Addr{}
			}
			if ext.IsValid() && !r.Distributed && !hasExternal(r, ext.Is6()) {
				v.p.add(path+".external_ip", "%s is %s but router %q's external port has no %s network to reach the outside through", ext, family(ext), r.Name, family(ext))
			}
			if n.PortRange != "" {
				if kind == nat.KindDNAT {
					v.p.add(path+".port_range", "only source NAT allocates ports; not allowed on dnat")
				} else {
					_, _, err := n.PortRange.Parse()
					v.p.check(path+".port_range", err)
				}
			}
			if n.Mapping != "" {
				if kind == nat.KindDNAT {
					v.p.add(path+".mapping", "only source NAT maps inside endpoints; not allowed on dnat")
				} else {
					_, err := n.Mapping.Parse()
					v.p.check(path+".mapping", err)
				}
			}
			if logical.IsValid() {
				k := string(n.Type) + " " + logical.String()
				if first, dup := rules[k]; dup {
					v.p.add(path, "same %s of %s as nat[%d]", n.Type, logical, first)
				}
				rules[k] = ni
			}
			if kind != nat.KindSNAT && ext.IsValid() && logical.IsValid() {
				// A destination address can only lead to one inside host.
				if other, dup := dnatTo[ext]; dup && other != logical.Addr().String() {
					v.p.add(path+".external_ip", "%s already DNATs to %s", ext, other)
				}
				dnatTo[ext] = logical.Addr().String()
			}
		}
	}
}

// natLogical checks a rule's logical_ip and returns it (invalid if bad).
func (v *validator) natLogical(path string, n NAT, kind nat.Kind) netip.Prefix {
	if !v.required(path+".logical_ip", string(n.LogicalIP)) {
		return netip.Prefix{}
	}
	logical, err := n.LogicalIP.Parse()
	if err != nil {
		v.p.check(path+".logical_ip", err)
		return netip.Prefix{}
	}
	if kind != nat.KindSNAT && !logical.IsSingleIP() {
		if logical.Addr().Is4() {
			v.p.add(path+".logical_ip", "%s: %s translates one address; want a.b.c.d", logical, n.Type)
		} else {
			v.p.add(path+".logical_ip", "%s: %s translates one address; want x:y::z (a /128)", logical, n.Type)
		}
	}
	if a := logical.Addr(); a.Is6() && (a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsLoopback() ||
		(logical.Bits() > 0 && a.IsUnspecified())) {
		v.p.add(path+".logical_ip", "%s is not a routable inside network (link-local, multicast, loopback or unspecified)", logical)
	}
	return logical
}

// natExternal checks a rule's external_ip and returns it (invalid if bad).
func (v *validator) natExternal(path string, n NAT) netip.Addr {
	if !v.required(path+".external_ip", string(n.ExternalIP)) {
		return netip.Addr{}
	}
	ext, err := n.ExternalIP.Parse()
	if err != nil {
		v.p.check(path+".external_ip", err)
		return netip.Addr{}
	}
	if ext.Is4() {
		if ip := packet.IP4(ext.As4()); !usableUnicast(ip) {
			v.p.add(path+".external_ip", "%s is not a unicast host address", ip)
		}
		return ext
	}
	if err := unicast6("a NAT address", ext); err != nil {
		v.p.add(path+".external_ip", "%v", err)
		return netip.Addr{}
	}
	return ext
}

// hasExternal reports whether r's external port has a network of the
// family (IPv6 if six). True when the port's networks do not parse: that
// is reported with the port.
func hasExternal(r Router, six bool) bool {
	for _, p := range r.Ports {
		if p.External {
			v4, v6, err := p.IP.Networks()
			return err != nil || (six && v6.IsValid()) || (!six && v4.IsValid())
		}
	}
	return true // no external port: reported with the router
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// usableUnicast rejects addresses that can never be a NAT address.
func usableUnicast(ip packet.IP4) bool {
	a := ip.Addr()
	return !ip.IsZero() && !a.IsMulticast() && !a.IsLoopback() && ip != packet.IP4{255, 255, 255, 255}
}

// externalAddresses checks that every external address (NAT addresses and
// external port addresses, either family) belongs to one router only:
// replies arriving on the external interface are classified by
// destination address alone.
func (v *validator) externalAddresses() {
	owner := map[netip.Addr]struct {
		router int
		path   string
	}{}
	claim := func(ri int, path string, ip netip.Addr) {
		if (ip.Is4() && ip == v.vtep.Addr() && !v.vtep.IsZero()) || (ip.Is6() && ip == v.vtep6) {
			v.p.add(path, "%s is the gateway's VTEP; Geneve and NAT traffic would be confused", ip)
		}
		if o, ok := owner[ip]; ok && o.router != ri {
			v.p.add(path, "%s is also an external address of router %q (%s)", ip, v.c.Routers[o.router].Name, o.path)
			return
		}
		if _, ok := owner[ip]; !ok {
			owner[ip] = struct {
				router int
				path   string
			}{ri, path}
		}
	}
	for ri, r := range v.c.Routers {
		for pi, rp := range r.Ports {
			if !rp.External {
				continue
			}
			if v4, v6, err := rp.IP.Networks(); err == nil {
				for _, pfx := range []netip.Prefix{v4, v6} {
					if pfx.IsValid() {
						claim(ri, fmt.Sprintf("routers[%d].ports[%d].ip", ri, pi), pfx.Addr())
					}
				}
			}
		}
	}
	for ri, r := range v.c.Routers {
		for ni, n := range r.NAT {
			if ip, err := n.ExternalIP.Parse(); err == nil {
				claim(ri, fmt.Sprintf("routers[%d].nat[%d].external_ip", ri, ni), ip)
			}
		}
	}
}

// routed6 checks that the IPv6 prefixes that gateway routers route inside
// without NAT (static routes through a join port that no source-NAT rule
// covers whole) do not overlap across routers: IPv6 arriving from outside
// for such a prefix is classified by its destination alone. NATed and
// join prefixes may repeat, as tenants' IPv4 addresses do.
func (v *validator) routed6() {
	type routed struct {
		router int
		path   string
		pfx    netip.Prefix
	}
	var all []routed
	for ri, r := range v.c.Routers {
		if r.Distributed {
			continue
		}
		var inside []netip.Prefix // v6 subnets of join ports
		for _, p := range r.Ports {
			if _, v6, err := p.IP.Networks(); err == nil && v6.IsValid() && !p.External {
				inside = append(inside, v6.Masked())
			}
		}
		var snat []netip.Prefix
		for _, n := range r.NAT {
			if k, err := n.Type.Parse(); err == nil && k != nat.KindDNAT {
				if l, err := n.LogicalIP.Parse(); err == nil && l.Addr().Is6() {
					snat = append(snat, l)
				}
			}
		}
		for ki, rt := range r.Routes {
			pfx, err1 := rt.Prefix.Parse()
			nh, err2 := rt.NextHop.Parse()
			if err1 != nil || err2 != nil || !pfx.Addr().Is6() || !nh.Is6() {
				continue
			}
			in := false
			for _, s := range inside {
				in = in || s.Contains(nh)
			}
			covered := false
			for _, s := range snat {
				covered = covered || (s.Bits() <= pfx.Bits() && s.Contains(pfx.Addr()))
			}
			if !in || covered {
				continue
			}
			path := fmt.Sprintf("routers[%d].routes[%d].prefix", ri, ki)
			for _, o := range all {
				if o.router != ri && o.pfx.Overlaps(pfx) {
					v.p.add(path, "%s is routed without NAT by router %q and overlaps %s, routed without NAT by router %q (%s): IPv6 from outside is told apart by destination alone; cover one with a NAT rule or make them disjoint",
						pfx, r.Name, o.pfx, v.c.Routers[o.router].Name, o.path)
				}
			}
			all = append(all, routed{ri, path, pfx})
		}
	}
}
