package ovn

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xgw-dev/xgw/config"
)

// WriteShow prints what this chassis serves in the spirit of
// `ovn-sbctl show`: the chassis and its connections, the peer chassis
// (VTEPs), each gateway router with its ports, routes, NAT rules and
// zones, the switches behind it, the claimed port bindings, and what is
// unsupported.
func (s Status) WriteShow(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Chassis %q (xgw)\n", s.Chassis)
	for _, db := range []string{"nb", "sb"} {
		state := "connected"
		if !s.Connected[db] {
			state = "DISCONNECTED (forwarding with the last topology)"
		}
		fmt.Fprintf(&b, "    %s: %s %s, %d disconnect(s)\n", strings.ToUpper(db), state, s.Endpoint[db], s.Disconnects[db])
	}
	if s.LastError != "" {
		fmt.Fprintf(&b, "    last apply REFUSED: %s\n", s.LastError)
	}
	for _, p := range s.Claimed {
		fmt.Fprintf(&b, "    Port_Binding %q\n", p)
	}
	t := s.Topology
	if t == nil {
		t = &Topology{}
	}
	for _, ch := range t.Chassis {
		fmt.Fprintf(&b, "Peer chassis %q\n    Encap geneve\n        ip: %q\n", ch.Name, ch.IP)
	}
	for _, r := range t.Routers {
		if r.Distributed {
			continue
		}
		writeRouter(&b, r)
	}
	for _, r := range t.Routers {
		if r.Distributed {
			writeRouter(&b, r)
		}
	}
	for _, sw := range t.Switches {
		fmt.Fprintf(&b, "switch %q (tunnel_key %d)\n", sw.Name, sw.Key)
		for _, p := range sw.Ports {
			if p.IsRouter() {
				fmt.Fprintf(&b, "    port %q (key %d)\n        router-port: %q\n", p.Name, p.Key, p.RouterPort)
				continue
			}
			fmt.Fprintf(&b, "    port %q (key %d)\n        addresses: [\"%s %s\"]\n        chassis: %q\n", p.Name, p.Key, p.MAC, p.IP, p.Chassis)
		}
	}
	if len(s.Problems) > 0 {
		b.WriteString("Unsupported (not served):\n")
		for _, p := range s.Problems {
			fmt.Fprintf(&b, "    %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRouter(b *strings.Builder, r config.Router) {
	switch {
	case r.Distributed:
		fmt.Fprintf(b, "router %q (distributed; delivery to its switches)\n", r.Name)
	case r.Key != 0:
		fmt.Fprintf(b, "router %q (distributed gateway port served here; tunnel_key %d; ct zones dnat %d snat %d)\n", r.Name, r.Key, r.Zones.DNAT, r.Zones.SNAT)
	default:
		fmt.Fprintf(b, "router %q (gateway, served here; ct zones dnat %d snat %d)\n", r.Name, r.Zones.DNAT, r.Zones.SNAT)
	}
	ports := slices.Clone(r.Ports)
	slices.SortFunc(ports, func(a, b config.RouterPort) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range ports {
		ext := ""
		switch {
		case p.RedirectKey != 0:
			ext = fmt.Sprintf(" (external; chassisredirect cr-%s key %d)", p.Name, p.RedirectKey)
		case p.External:
			ext = " (external)"
		}
		fmt.Fprintf(b, "    port %s%s\n        mac: %q\n        networks: [%q]\n", p.Name, ext, p.MAC, p.IP)
	}
	for _, rt := range r.Routes {
		fmt.Fprintf(b, "    route %s via %s\n", rt.Prefix, rt.NextHop)
	}
	for _, n := range r.NAT {
		fmt.Fprintf(b, "    nat %s\n        external ip: %q\n        logical ip: %q\n        type: %q\n", n.Type, n.ExternalIP, n.LogicalIP, n.Type)
		if n.PortRange != "" {
			fmt.Fprintf(b, "        ports: %s\n", n.PortRange)
		}
	}
}
