package datapath

import (
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// plan is an immutable compilation of a topology: the routers' NAT rules as
// ready-to-use objects, indexed for the per-packet path.
type plan struct {
	gen     uint64 // distinct per compiled plan: flow cache entries remember it
	topo    *route.Topology
	routers []routerPlan // by Router.ID
	// chassis holds the VTEP addresses of known chassis: the only sources
	// Geneve is accepted from, as OVS accepts tunnel packets only from a
	// configured remote.
	chassis vtepSet
	// chassis6 holds the IPv6 VTEPs of known chassis (underlay6.go).
	chassis6 map[packet.IP6]bool
}

type routerPlan struct {
	r *route.Router
	// snat is ordered by prefix length, longest first; dnat_and_snat rules
	// come as /32 entries with a single external address.
	snat []*nat.SNAT
	dnat map[packet.IP4]*nat.DNAT // by external address
	// bcast holds the directed broadcast addresses of the router's
	// connected subnets, which are martian destinations.
	bcast []packet.IP4
	// routerPlan6 is the IPv6 half (plan6.go).
	routerPlan6
}

var planGen atomic.Uint64

// compile builds the plan of t. Every SNAT rule gets maps, the gateway's
// endpoint-independent mappings, which outlive plans (reload-safe).
func compile(t *route.Topology, maps *nat.Mappings) (*plan, error) {
	pl := &plan{gen: planGen.Add(1), topo: t, routers: make([]routerPlan, len(t.Routers))}
	vteps := make([]packet.IP4, 0, len(t.Chassis))
	for _, ch := range t.Chassis {
		vteps = append(vteps, ch.IP)
	}
	pl.chassis = newVTEPSet(vteps)
	pl.chassis6 = map[packet.IP6]bool{}
	for _, ch := range t.Chassis6 {
		pl.chassis6[ch.IP6] = true
	}
	for _, r := range t.Routers {
		if r.ID < 0 || r.ID >= len(pl.routers) {
			return nil, fmt.Errorf("router %s: id %d out of range", r.Name, r.ID)
		}
		rp := routerPlan{r: r, dnat: map[packet.IP4]*nat.DNAT{}}
		for _, port := range r.Ports {
			if bits := port.Prefix.Bits(); bits >= 0 && bits <= 30 {
				net := packet.IP4(port.Prefix.Masked().Addr().As4()).Uint32()
				rp.bcast = append(rp.bcast, packet.IP4FromUint32(net|(1<<(32-bits)-1)))
			}
		}
		for _, rule := range r.NATRules() {
			switch rule.Type {
			case nat.KindSNAT:
				s, err := nat.NewSNAT(rule.Logical, []packet.IP4{rule.External}, rule.PortMin, rule.PortMax)
				if err != nil {
					return nil, fmt.Errorf("router %s: snat %s: %w", r.Name, rule.Logical, err)
				}
				if err := s.SetMapping(rule.Mapping, maps); err != nil {
					return nil, fmt.Errorf("router %s: snat %s: %w", r.Name, rule.Logical, err)
				}
				rp.snat = append(rp.snat, s)
			case nat.KindDNAT, nat.KindDNATAndSNAT:
				if !rule.Logical.IsSingleIP() {
					return nil, fmt.Errorf("router %s: %s %s: logical side must be one address", r.Name, rule.Type, rule.Logical)
				}
				logical, _ := packet.IP4From(rule.Logical.Addr())
				d := &nat.DNAT{External: rule.External, Logical: logical}
				rp.dnat[rule.External] = d
				if rule.Type == nat.KindDNATAndSNAT {
					// The outbound half allocates from the rule's port_range
					// (config.DefaultPorts when none is written).
					s, err := d.SNAT(rule.PortMin, rule.PortMax)
					if err != nil {
						return nil, fmt.Errorf("router %s: dnat_and_snat %s: %w", r.Name, rule.Logical, err)
					}
					if err := s.SetMapping(rule.Mapping, maps); err != nil {
						return nil, fmt.Errorf("router %s: dnat_and_snat %s: %w", r.Name, rule.Logical, err)
					}
					rp.snat = append(rp.snat, s)
				}
			default:
				return nil, fmt.Errorf("router %s: unknown NAT type %q", r.Name, rule.Type)
			}
		}
		sort.SliceStable(rp.snat, func(i, j int) bool { return rp.snat[i].Logical.Bits() > rp.snat[j].Logical.Bits() })
		var err error
		if rp.routerPlan6, err = compile6(r); err != nil {
			return nil, err
		}
		pl.routers[r.ID] = rp
	}
	return pl, nil
}

// snatFor returns the most specific SNAT rule for a logical source, or nil.
func (rp *routerPlan) snatFor(src packet.IP4) *nat.SNAT {
	for _, s := range rp.snat {
		if s.Matches(src) {
			return s
		}
	}
	return nil
}

// snatTo reports whether one of the router's SNAT rules (snat or the
// outbound half of dnat_and_snat) translates to ip.
func (rp *routerPlan) snatTo(ip packet.IP4) bool {
	for _, s := range rp.snat {
		for _, e := range s.External {
			if e == ip {
				return true
			}
		}
	}
	return false
}
