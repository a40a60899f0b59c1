package gateway

// What xdp_gw steers to xgw on the external side, for both families: the
// NAT addresses (IPv4 NAT rules' and NAT66 rules' external addresses,
// each with its flags) and the routed IPv6 prefixes (OVN's routed IPv6
// without NAT, route.Topology.RoutedPrefixes6). The same code programs
// them on start (gateway.go), on adoption (adopt.go) and on reload
// (reload.go: an added address or prefix is steered before the swap, a
// dropped NAT address drains while connections use it, a dropped prefix
// is unsteered after the swap).

import (
	"net/netip"
	"slices"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// natSteering is one XDP program's list of NAT addresses, each with its
// flags (bpf.NATHost: the host's address too, whose ARP or neighbour
// discovery the kernel answers), and of routed IPv6 prefixes;
// *bpf.Objects is one.
type natSteering interface {
	SetNATAddr(netip.Addr, bpf.NATFlags) error
	RemoveNATAddr(netip.Addr) error
	SetHostPorts(a netip.Addr, lo, hi uint16) error
	RemoveHostPorts(netip.Addr) error
	SetRoutedPrefix6(netip.Prefix) error
	RemoveRoutedPrefix6(netip.Prefix) error
}

// natAddrs lists topo's NAT addresses, IPv4 (NATIPs) then IPv6
// (NATIPs6), each sorted.
func natAddrs(topo *route.Topology) []netip.Addr {
	out := make([]netip.Addr, 0, len(topo.NATIPs())+len(topo.NATIPs6()))
	for _, ip := range topo.NATIPs() {
		out = append(out, ip.Addr())
	}
	for _, ip := range topo.NATIPs6() {
		out = append(out, ip.Addr())
	}
	return out
}

// natOwner is the router that owns a in topo: RouterByExternalIP or
// RouterByExternalIP6 by a's family.
func natOwner(topo *route.Topology, a netip.Addr) (*route.Router, bool) {
	if a.Is4() {
		return topo.RouterByExternalIP(packet.IP4(a.As4()))
	}
	return topo.RouterByExternalIP6(a.As16())
}

// retainNATAddr keeps a, a NAT address a reload drops, classified as
// router's in topo while its connections drain (RetainNATAddr or
// RetainNATAddr6 by a's family).
func retainNATAddr(topo *route.Topology, a netip.Addr, router string) bool {
	if a.Is4() {
		return topo.RetainNATAddr(packet.IP4(a.As4()), router)
	}
	return topo.RetainNATAddr6(a.As16(), router)
}

// isHostAddr reports whether a is a router's external port address in
// topo (IPv4 or IPv6): the host's own, which the kernel answers ARP or
// neighbour solicitations for, even when a NAT rule shares it.
func isHostAddr(topo *route.Topology, a netip.Addr) bool {
	r, ok := natOwner(topo, a)
	if !ok || r.External == nil {
		return false
	}
	if a.Is4() {
		return r.External.IP.Addr() == a
	}
	return r.External.IP6.Addr() == a
}

// natFlags are a's flags in xgw_nat_addrs or xgw_nat_addrs6.
func natFlags(topo *route.Topology, a netip.Addr) bpf.NATFlags {
	if isHostAddr(topo, a) {
		return bpf.NATHost
	}
	return 0
}

// natSteer is how xdp_gw steers one NAT address: its flags and, for an
// IPv4 address shared with the host (NATHost), the SNAT port range whose
// traffic goes to xgw (the rest of it stays the kernel's). An IPv6
// address shared with the host has no range: xdp_gw leaves all of it to
// the kernel (bpf.SetNATAddr).
type natSteer struct {
	flags  bpf.NATFlags
	lo, hi uint16
}

// natSteerOf is a's steering in topo.
func natSteerOf(topo *route.Topology, a netip.Addr) natSteer {
	s := natSteer{flags: natFlags(topo, a)}
	if s.flags&bpf.NATHost != 0 && a.Is4() {
		s.lo, s.hi, _ = topo.HostPortRange(packet.IP4(a.As4()))
	}
	return s
}

// program writes s for a into one XDP program's maps: the flags first,
// then (IPv4) the range, so that a host address is never steered whole.
func (s natSteer) program(x natSteering, a netip.Addr) error {
	if err := x.SetNATAddr(a, s.flags); err != nil {
		return err
	}
	if !a.Is4() {
		return nil
	}
	if s.flags&bpf.NATHost != 0 && s.hi != 0 {
		return x.SetHostPorts(a, s.lo, s.hi)
	}
	return x.RemoveHostPorts(a)
}

// routedPrefixes are topo's routed IPv6 prefixes that xdp_gw may steer,
// and those it must not: a prefix that holds a router's external port
// IPv6 address (the host's own: SSH, BGP, neighbour discovery) would take
// the host's traffic into xgw, which hands nothing back to the kernel.
// A configuration that routes such a prefix inside is wrong; it is
// reported, not steered.
func routedPrefixes(topo *route.Topology) (steer, refused []netip.Prefix) {
	for _, p := range topo.RoutedPrefixes6() {
		if slices.ContainsFunc(topo.Routers, func(r *route.Router) bool {
			return r.External != nil && !r.External.IP6.IsZero() && p.Contains(r.External.IP6.Addr())
		}) {
			refused = append(refused, p)
			continue
		}
		steer = append(steer, p)
	}
	return steer, refused
}

// programSteering writes every NAT address and routed prefix of topo into
// x: an XDP program's steering on start or adoption. It returns the
// routed prefixes it refused (routedPrefixes).
func programSteering(x natSteering, topo *route.Topology) (refused []netip.Prefix, err error) {
	for _, a := range natAddrs(topo) {
		if err := natSteerOf(topo, a).program(x, a); err != nil {
			return nil, err
		}
	}
	steer, refused := routedPrefixes(topo)
	for _, p := range steer {
		if err := x.SetRoutedPrefix6(p); err != nil {
			return nil, err
		}
	}
	return refused, nil
}
