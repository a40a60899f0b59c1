package gateway

import (
	"reflect"

	"github.com/xgw-dev/xgw/config"
)

// moved says why a change from old to new may send an offloaded flow
// somewhere else than where the fast path sends it ("" = it cannot): a
// VM on another chassis or gone (OVN mode follows VIFs as they move), a
// chassis at another address or gone, a switch whose key or ports
// changed, a router whose ports or routes changed or that is gone.
// Additions (a new VM, chassis, switch or router) move no existing flow,
// nor do NAT rules added or removed: connections keep the translation
// conntrack holds. So a cloud where VMs come often does not keep pulling
// flows out of the fast path.
func moved(old, new *config.Config) string {
	chassis := map[string]config.Chassis{}
	for _, c := range new.Chassis {
		chassis[c.Name] = c
	}
	for _, c := range old.Chassis {
		if n, ok := chassis[c.Name]; !ok || n != c {
			return "chassis " + c.Name + " changed or went"
		}
	}
	switches := map[string]config.Switch{}
	for _, s := range new.Switches {
		switches[s.Name] = s
	}
	for _, s := range old.Switches {
		n, ok := switches[s.Name]
		if !ok || n.Key != s.Key {
			return "switch " + s.Name + " changed or went"
		}
		ports := map[string]config.SwitchPort{}
		for _, p := range n.Ports {
			ports[p.Name] = p
		}
		for _, p := range s.Ports {
			if np, ok := ports[p.Name]; !ok || np != p {
				return "switch port " + p.Name + " changed or went (a VM moved or left)"
			}
		}
	}
	routers := map[string]config.Router{}
	for _, r := range new.Routers {
		routers[r.Name] = r
	}
	for _, r := range old.Routers {
		n, ok := routers[r.Name]
		if !ok || n.Distributed != r.Distributed || n.Zones != r.Zones ||
			!reflect.DeepEqual(n.Ports, r.Ports) || !reflect.DeepEqual(n.Routes, r.Routes) {
			return "router " + r.Name + " ports or routes changed, or it went"
		}
	}
	return ""
}
