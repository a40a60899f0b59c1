package ovn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// dgp is a distributed gateway port (OVN's chassisredirect shape, the one
// OpenStack uses) that this chassis is the active gateway of: the router
// that owns it, the port, and its chassisredirect binding "cr-<port>".
type dgp struct {
	router *nbdb.LogicalRouter
	port   *nbdb.LogicalRouterPort
	cr     *sbdb.PortBinding
}

// distributedGateways lists the distributed gateway ports whose
// chassisredirect binding's HA_Chassis_Group makes chassis (a Chassis
// UUID) the active member (haActive: highest priority; northd turns NB
// gateway_chassis into such a group too), sorted by router name. Gateway
// routers (options:chassis) are not among them, nor groups with another
// member (haShared: sharedGateways reports those).
func (x *index) distributedGateways(chassisUUID string) []dgp {
	var out []dgp
	for _, pb := range x.s.bindings {
		if pb.Type != "chassisredirect" || !haActive(x.s, pb.HaChassisGroup, chassisUUID) ||
			haShared(x.s, pb.HaChassisGroup, chassisUUID) {
			continue
		}
		lrp := x.lrpByName[pb.Options["distributed-port"]]
		if lrp == nil {
			continue
		}
		r := x.routerOf[lrp.UUID]
		if r == nil || isGateway(r) {
			continue
		}
		out = append(out, dgp{router: r, port: lrp, cr: pb})
	}
	slices.SortFunc(out, func(a, b dgp) int {
		return strings.Compare(a.router.Name+"/"+a.port.Name, b.router.Name+"/"+b.port.Name)
	})
	return out
}

// sharedGateways reports, per chassisredirect port, an HA_Chassis_Group
// that has chassis (a Chassis UUID) and another member (haShared): xgw
// runs no BFD, so it cannot share a group; the port is neither served
// nor claimed.
func (x *index) sharedGateways(chassisUUID string) []Problem {
	var ps []Problem
	for _, pb := range x.s.bindings {
		if pb.Type != "chassisredirect" || !haShared(x.s, pb.HaChassisGroup, chassisUUID) {
			continue
		}
		p := Problem{Object: "distributed gateway port " + pb.Options["distributed-port"],
			Reason: "HA group has other members; xgw runs no BFD: not claimed"}
		if lrp := x.lrpByName[pb.Options["distributed-port"]]; lrp != nil {
			if r := x.routerOf[lrp.UUID]; r != nil {
				p.Router = r.Name
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// unsupportedOnDGP lists what a router served through its distributed
// gateway port d uses that xgw cannot do: what a gateway router cannot
// (unsupportedOnRouter), and a second gateway port.
func (x *index) unsupportedOnDGP(d dgp) []Problem {
	var ps []Problem
	for _, p := range x.unsupportedOnRouter(d.router) {
		if p.Object == "router port "+d.port.Name {
			continue // the gateway port itself: what is served here
		}
		if strings.HasPrefix(p.Object, "router port ") {
			p.Reason = "a second distributed gateway port on one router: not supported"
		}
		ps = append(ps, p)
	}
	// Shapes whose traffic does not arrive as redirected Geneve: bridged
	// redirection (over the localnet's VLAN) and tenant ports centralized
	// on the gateway chassis (their switch traffic comes unrouted).
	if d.port.Options["redirect-type"] == "bridged" {
		ps = append(ps, Problem{Object: "router port " + d.port.Name + " options:redirect-type", Reason: "bridged redirection (over the physical network) is not supported", Router: d.router.Name})
	}
	for _, p := range x.routerPorts(d.router) {
		if p.Options["reside-on-redirect-chassis"] == "true" {
			ps = append(ps, Problem{Object: "router port " + p.Name + " options:reside-on-redirect-chassis", Reason: "a port centralized on the gateway chassis is not supported", Router: d.router.Name})
		}
	}
	return ps
}

// dgpFragment builds what serving d's router takes: the router with its
// datapath key, the gateway port as its external port (reached by the
// chassisredirect port's key), its other ports on tenant switches with
// their VMs, its routes and NAT rules. An error says why it cannot be
// served.
func (x *index) dgpFragment(d dgp, zones config.Zones) (*fragment, []Problem, error) {
	r := d.router
	key := x.dpKey[r.UUID]
	if key == 0 {
		return nil, nil, fmt.Errorf("router %s has no datapath binding yet", r.Name)
	}
	if d.cr.TunnelKey < 1 || d.cr.TunnelKey > 0x7fff {
		return nil, nil, fmt.Errorf("chassisredirect port %s has tunnel key %d, not 1..32767", d.cr.LogicalPort, d.cr.TunnelKey)
	}
	var notes []Problem
	cr := config.Router{Name: r.Name, Key: uint32(key), Zones: zones}
	x.rec.router(r.UUID)
	included := map[string]bool{r.UUID: true}
	var tenants []*nbdb.LogicalSwitch
	for _, p := range x.routerPorts(r) {
		if p.Enabled != nil && !*p.Enabled {
			if p == d.port {
				return nil, nil, fmt.Errorf("distributed gateway port %s is disabled", p.Name)
			}
			continue
		}
		nw, err := portNetworks(p)
		if err != nil {
			if p == d.port {
				return nil, nil, err
			}
			notes = append(notes, Problem{Object: "router port " + p.Name, Reason: err.Error() + ": not served"})
			continue
		}
		var sw *nbdb.LogicalSwitch
		if lsp := x.lspOfLRP[p.Name]; lsp != nil {
			sw = x.switchOf[lsp.UUID]
		}
		if sw == nil {
			if p == d.port {
				return nil, nil, fmt.Errorf("distributed gateway port %s is on no logical switch", p.Name)
			}
			continue // peered directly with another router: not served
		}
		x.rec.switch_(sw.UUID)
		rp := config.RouterPort{Name: p.Name, MAC: config.MAC(p.MAC), IP: nw}
		nwName := x.localnetNetwork(sw)
		switch {
		case p == d.port:
			if nwName == "" {
				return nil, nil, fmt.Errorf("distributed gateway port %s is on switch %s, which has no localnet port", p.Name, sw.Name)
			}
			if _, ok := x.bridgeMaps[nwName]; !ok {
				return nil, nil, fmt.Errorf("distributed gateway port %s is on switch %s, whose localnet port's network_name %q is not in ovn.bridge_mappings", p.Name, sw.Name, nwName)
			}
			rp.External, rp.RedirectKey = true, uint16(d.cr.TunnelKey)
		case nwName != "":
			return nil, nil, fmt.Errorf("router port %s is on switch %s with a localnet port but is not the distributed gateway port: not supported", p.Name, sw.Name)
		default:
			tenants = append(tenants, sw)
		}
		cr.Ports = append(cr.Ports, rp)
	}
	notes = append(notes, x.routesAndNAT(r, &cr)...)
	f := &fragment{routers: []config.Router{cr}}
	for _, sw := range tenants {
		f.switches = append(f.switches, x.switchFragment(sw, included, &notes))
	}
	slices.SortFunc(f.switches, func(a, b config.Switch) int { return strings.Compare(a.Name, b.Name) })
	return f, notes, nil
}

// chassisUUID is the UUID of the Chassis row called name ("" if none).
func (x *index) chassisUUID(name string) string {
	for u, n := range x.chassisNm {
		if n == name {
			return u
		}
	}
	return ""
}
