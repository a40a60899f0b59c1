package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// A NAT rule may SNAT to its gateway router's external port address, which
// is also the host's own address on the external interface (the common
// ovn-kubernetes shape: the node's IP). The host keeps using that address
// (SSH, BGP, its own outbound connections), so the two share it by port:
// xdp_gw hands xgw only what can be a reply to xgw's SNAT (TCP/UDP to a
// port in the rule's range, ICMP echo replies with an id in it, ICMP
// errors quoting such a packet) and passes everything else to the kernel.
// That only works when the range avoids the host's ports: its ephemeral
// range (net.ipv4.ip_local_port_range), whose replies xgw would otherwise
// take, and its listening services.

// Default range of a rule that SNATs to the host's address: above Linux's
// default ephemeral range (32768-60999), where services rarely listen.
const (
	DefaultHostSNATPortMin = 61000
	DefaultHostSNATPortMax = 65535
)

// DefaultPortsFor is DefaultPorts for a rule whose external address is
// (hostShared) or is not its router's external port address.
func DefaultPortsFor(k nat.Kind, hostShared bool) (lo, hi uint16, ok bool) {
	lo, hi, ok = DefaultPorts(k)
	if ok && hostShared {
		lo, hi = DefaultHostSNATPortMin, DefaultHostSNATPortMax
	}
	return lo, hi, ok
}

// isExternalPortIP reports whether a is an address (of either family) of
// r's external port.
func (r *Router) isExternalPortIP(a netip.Addr) bool {
	for _, p := range r.Ports {
		if !p.External {
			continue
		}
		if v4, v6, err := p.IP.Networks(); err == nil {
			return (v4.IsValid() && v4.Addr() == a) || (v6.IsValid() && v6.Addr() == a)
		}
	}
	return false
}

// HostShared reports whether rule n of r translates to r's external port
// address (IPv4 or IPv6).
func (r *Router) HostShared(n NAT) bool {
	ext, err := n.ExternalIP.Parse()
	return err == nil && !ext.IsUnspecified() && r.isExternalPortIP(ext)
}

// hostNAT refuses DNAT to a router's external port address: it would take
// every packet to the host's address from the host. SNAT may share it for
// IPv4 only (xdp_gw splits its ports with the host; not for IPv6).
func (v *validator) hostNAT() {
	for ri := range v.c.Routers {
		r := &v.c.Routers[ri]
		for ni, n := range r.NAT {
			k, err := n.Type.Parse()
			if err != nil || !r.HostShared(n) {
				continue
			}
			if k == nat.KindSNAT {
				if ext, err := n.ExternalIP.Parse(); err == nil && ext.Is6() {
					// xdp_gw6 leaves a host IPv6 address whole to the
					// kernel (no port split as xgw_host_ports for IPv4):
					// every reply would be lost.
					v.p.add(fmt.Sprintf("routers[%d].nat[%d].external_ip", ri, ni),
						"%s is the router's external port address, which the host uses too: NAT66 to a host-shared IPv6 address is not supported (its replies would reach the host, not xgw); use another address of the external prefix",
						n.ExternalIP)
				}
				continue
			}
			v.p.add(fmt.Sprintf("routers[%d].nat[%d].external_ip", ri, ni),
				"%s is the router's external port address, which the host uses too (SSH, BGP): %s would take every packet to it from the host; only snat may share it",
				n.ExternalIP, n.Type)
		}
	}
}

// HostPorts is what the host itself uses on its addresses, as read from
// the kernel of the gateway's network namespace (gateway package).
type HostPorts struct {
	// Ephemeral is net.ipv4.ip_local_port_range: the source ports of the
	// host's own outbound connections, whose replies come back to them.
	EphemeralMin, EphemeralMax uint16
	// Listeners are the host's listening TCP sockets and bound UDP
	// sockets.
	Listeners []Listener
}

// Listener is one listening (TCP) or bound (UDP) socket of the host.
type Listener struct {
	Proto uint8      // packet.ProtoTCP or packet.ProtoUDP
	Addr  netip.Addr // the bound address; unspecified for a wildcard
	Port  uint16
}

// CheckHostPorts reports, for every NAT rule that SNATs to its router's
// external port address, each overlap of its port range with the host's
// ephemeral range or with a host socket bound to that address (or to a
// wildcard): packets to those ports would go to xgw, not to the host.
// Nil when there is none. The gateway refuses such a configuration at
// start and on reload.
func (c *Config) CheckHostPorts(h HostPorts) error {
	p := &problems{lines: c.lines}
	for ri := range c.Routers {
		r := &c.Routers[ri]
		for ni, n := range r.NAT {
			if !r.HostShared(n) || n.PortRange == "" {
				continue
			}
			lo, hi, err := n.PortRange.Parse()
			if err != nil {
				continue
			}
			path := fmt.Sprintf("routers[%d].nat[%d].port_range", ri, ni)
			ext := n.ExternalIP.Value()
			if h.EphemeralMax != 0 && lo <= h.EphemeralMax && h.EphemeralMin <= hi {
				p.add(path, "SNAT to %s, the router's external port address, shared with the host: ports %d-%d overlap the host's ephemeral ports %d-%d (net.ipv4.ip_local_port_range), so replies to the host's own connections would be taken by xgw; pick a range outside it (the default for this case is %d-%d) or narrow ip_local_port_range",
					ext, lo, hi, h.EphemeralMin, h.EphemeralMax, DefaultHostSNATPortMin, DefaultHostSNATPortMax)
			}
			var clash []string
			for _, l := range h.Listeners {
				if l.Port < lo || l.Port > hi {
					continue
				}
				if a := l.Addr.Unmap(); a.IsValid() && !a.IsUnspecified() && a != ext {
					continue
				}
				clash = append(clash, fmt.Sprintf("%s/%d", protoName(l.Proto), l.Port))
			}
			if len(clash) > 0 {
				slices.Sort(clash)
				clash = slices.Compact(clash)
				p.add(path, "SNAT to %s, the router's external port address, shared with the host: ports %d-%d hold the host's listening port(s) %s, whose traffic would be taken by xgw; pick a range without them",
					ext, lo, hi, strings.Join(clash, ", "))
			}
		}
	}
	return errors.Join(p.errs...)
}

func protoName(p uint8) string {
	if p == packet.ProtoUDP {
		return "udp"
	}
	return "tcp"
}
