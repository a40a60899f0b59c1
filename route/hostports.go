package route

import "github.com/xgw-dev/xgw/packet"

// HostPortRange is the source-port range xgw's SNAT allocates on ip when
// ip is a router's external port address (the host's own too): the hull
// of the ranges of the router's rules that SNAT to it. xdp_gw steers to
// xgw only what to ip can be a reply to that SNAT, by this range, and
// passes the rest to the host (bpf.Objects.SetHostPorts). ok is false when
// ip is not such an address or no rule SNATs to it.
func (t *Topology) HostPortRange(ip packet.IP4) (lo, hi uint16, ok bool) {
	r, found := t.RouterByExternalIP(ip)
	if !found || r.External == nil || r.External.IP != ip {
		return 0, 0, false
	}
	for _, n := range r.nat {
		if n.External != ip || n.PortMax == 0 {
			continue
		}
		if !ok || n.PortMin < lo {
			lo = n.PortMin
		}
		if !ok || n.PortMax > hi {
			hi = n.PortMax
		}
		ok = true
	}
	return lo, hi, ok
}
