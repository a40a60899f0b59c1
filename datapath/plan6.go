package datapath

import (
	"fmt"
	"sort"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// routerPlan6 is the IPv6 half of routerPlan: a router's NAT66 rules as
// ready objects and its own IPv6 addresses (validate6's "own").
type routerPlan6 struct {
	// snat6 is ordered by prefix length, longest first; dnat_and_snat
	// rules come as /128 entries with a single external address.
	snat6 []*nat.SNAT6
	dnat6 map[packet.IP6]*nat.DNAT6 // by external address
	own6  []packet.IP6              // the router ports' IPv6 addresses
}

// compile6 builds the IPv6 half of r's plan. EIM mappings are IPv4-only:
// NAT66 rules are endpoint-dependent whatever their Mapping says.
func compile6(r *route.Router) (routerPlan6, error) {
	rp := routerPlan6{dnat6: map[packet.IP6]*nat.DNAT6{}}
	for _, port := range r.Ports {
		if !port.IP6.IsUnspecified() {
			rp.own6 = append(rp.own6, port.IP6)
		}
	}
	for _, rule := range r.NATRules6() {
		switch rule.Type {
		case nat.KindSNAT:
			s, err := nat.NewSNAT6(rule.Logical, []packet.IP6{rule.External}, rule.PortMin, rule.PortMax)
			if err != nil {
				return rp, fmt.Errorf("router %s: snat %s: %w", r.Name, rule.Logical, err)
			}
			rp.snat6 = append(rp.snat6, s)
		case nat.KindDNAT, nat.KindDNATAndSNAT:
			if !rule.Logical.IsSingleIP() {
				return rp, fmt.Errorf("router %s: %s %s: logical side must be one address", r.Name, rule.Type, rule.Logical)
			}
			d := &nat.DNAT6{External: rule.External, Logical: packet.IP6(rule.Logical.Addr().As16())}
			rp.dnat6[rule.External] = d
			if rule.Type == nat.KindDNATAndSNAT {
				s, err := d.SNAT(rule.PortMin, rule.PortMax)
				if err != nil {
					return rp, fmt.Errorf("router %s: dnat_and_snat %s: %w", r.Name, rule.Logical, err)
				}
				rp.snat6 = append(rp.snat6, s)
			}
		default:
			return rp, fmt.Errorf("router %s: unknown NAT type %q", r.Name, rule.Type)
		}
	}
	sort.SliceStable(rp.snat6, func(i, j int) bool { return rp.snat6[i].Logical.Bits() > rp.snat6[j].Logical.Bits() })
	return rp, nil
}

// snatFor6 returns the most specific NAT66 source rule for a logical
// source, or nil: its traffic is routed without NAT.
func (rp *routerPlan6) snatFor6(src packet.IP6) *nat.SNAT6 {
	for _, s := range rp.snat6 {
		if s.Matches(src) {
			return s
		}
	}
	return nil
}

// snatTo6 reports whether one of the router's NAT66 source rules
// translates to ip.
func (rp *routerPlan6) snatTo6(ip packet.IP6) bool {
	for _, s := range rp.snat6 {
		for _, e := range s.External {
			if e == ip {
				return true
			}
		}
	}
	return false
}

// owns6 reports whether ip is one of the router's own IPv6 addresses.
func (rp *routerPlan6) owns6(ip packet.IP6) bool { return owns6(rp.own6, ip) }
