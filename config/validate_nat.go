package config

import (
	"fmt"
	"net/netip"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// nat checks each router's NAT rules.
func (v *validator) nat() {
	for ri, r := range v.c.Routers {
		rules := map[string]int{}         // type + logical_ip -> rule index
		dnatTo := map[packet.IP4]string{} // external IP -> logical IP it DNATs to
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
			var logical netip.Prefix
			if v.required(path+".logical_ip", string(n.LogicalIP)) {
				var err error
				logical, err = n.LogicalIP.Parse()
				v.p.check(path+".logical_ip", err)
				if err == nil && kind != nat.KindSNAT && logical.Bits() != 32 {
					v.p.add(path+".logical_ip", "%s: %s translates one address; want a.b.c.d", logical, n.Type)
				}
			}
			var ext packet.IP4
			if v.required(path+".external_ip", string(n.ExternalIP)) {
				var err error
				ext, err = n.ExternalIP.Parse()
				v.p.check(path+".external_ip", err)
				if err == nil && !usableUnicast(ext) {
					v.p.add(path+".external_ip", "%s is not a unicast host address", ext)
				}
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
			if kind != nat.KindSNAT && !ext.IsZero() && logical.IsValid() {
				// A destination address can only lead to one inside host.
				if other, dup := dnatTo[ext]; dup && other != logical.Addr().String() {
					v.p.add(path+".external_ip", "%s already DNATs to %s", ext, other)
				}
				dnatTo[ext] = logical.Addr().String()
			}
		}
	}
}

// usableUnicast rejects addresses that can never be a NAT address.
func usableUnicast(ip packet.IP4) bool {
	a := ip.Addr()
	return !ip.IsZero() && !a.IsMulticast() && !a.IsLoopback() && ip != packet.IP4{255, 255, 255, 255}
}

// externalAddresses checks that every external address (NAT addresses and
// external port addresses) belongs to one router only: replies arriving on
// the external interface are classified by destination address alone.
func (v *validator) externalAddresses() {
	owner := map[packet.IP4]struct {
		router int
		path   string
	}{}
	claim := func(ri int, path string, ip packet.IP4) {
		if ip == v.vtep && !ip.IsZero() {
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
			if pfx, err := rp.IP.Parse(); err == nil {
				claim(ri, fmt.Sprintf("routers[%d].ports[%d].ip", ri, pi), packet.IP4(pfx.Addr().As4()))
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
