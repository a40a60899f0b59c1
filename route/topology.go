package route

import (
	"net/netip"
	"slices"

	"github.com/xgw-dev/xgw/packet"
)

// Topology is the compiled configuration. Its exported slices and the
// objects they point to are shared by all workers: treat them as read-only.
type Topology struct {
	VTEP           packet.IP4 // our outer IP on an IPv4 underlay; zero if none
	VTEP6          IP6        // our outer IP on an IPv6 underlay; zero if none
	GenevePort     uint16     // UDP destination port of Geneve
	GeneveTTL      uint8      // outer TTL of packets we encapsulate
	GeneveChecksum bool       // compute the outer UDP checksum
	// CheckOutport: Geneve must carry OVN's option naming the gateway
	// router's join port as outport (anything else did not come from
	// OVN's pipeline).
	CheckOutport bool
	// ICMPRate and ICMPBurst limit generated ICMP per source address
	// (config.ICMP with its defaults; a rate of 0 generates none).
	ICMPRate, ICMPBurst int

	Routers  []*Router  // Routers[i].ID == i
	Switches []*Switch  // in config order
	Chassis  []*Chassis // chassis with an IPv4 encap IP, in config order
	Chassis6 []*Chassis // chassis with an IPv6 encap IP (Geneve over IPv6), in config order

	joinPorts    map[joinKey]*RouterPort
	redirects    map[uint32]*RouterPort // router key -> its distributed gateway port
	switchByKey  map[uint32]*Switch
	byExternalIP map[packet.IP4]*Router
	externalIPs  []packet.IP4 // sorted
	natIPs       []packet.IP4 // sorted: NAT rules' external addresses
	nextHops     []packet.IP4 // sorted

	byExternalIP6 map[IP6]*Router
	externalIPs6  []IP6 // sorted
	natIPs6       []IP6 // sorted
	nextHops6     []IP6 // sorted
	// inbound6 lists the gateway routers' routed IPv6 prefixes (static
	// routes inside that no SNAT rule covers), for InboundRouter6.
	inbound6 []inbound6
}

// inbound6 is one gateway router's IPv6 entry toward the inside.
type inbound6 struct {
	e *routeEntry6
	r *Router
}

// joinKey selects a gateway router port from a Geneve frame's VNI and
// inner destination MAC. MACs are unique per switch, not globally: two
// tenants' routers may share a MAC on different join switches.
type joinKey struct {
	vni uint32
	mac packet.MAC
}

// Switch is a logical switch (datapath).
type Switch struct {
	ID           int
	Name         string
	Key          uint32         // tunnel key = Geneve VNI
	RouterPorts  []*RouterPort  // router ports attached to it
	LogicalPorts []*LogicalPort // VMs on it

	routerPortByIP  map[packet.IP4]*RouterPort
	logicalByIP     map[packet.IP4]*LogicalPort
	routerPortByIP6 map[IP6]*RouterPort
	logicalByIP6    map[IP6]*LogicalPort
}

// LogicalPort is a VM's port: where the gateway delivers return traffic.
type LogicalPort struct {
	Switch *Switch
	Name   string
	Key    uint16 // port tunnel key on Switch: the Geneve option's outport
	MAC    packet.MAC
	IP     packet.IP4 // zero if the VM has no IPv4 address
	IP6    IP6        // zero if the VM has no IPv6 address
	// Chassis is the VTEP of the hosting chassis when its encap IP is
	// IPv4, Chassis6 when it is IPv6; the other is zero.
	Chassis  packet.IP4
	Chassis6 IP6
}

// Chassis is a hypervisor that hosts logical ports. One of IP and IP6 is
// set: OVN's Encap has one IP, of either family.
type Chassis struct {
	Name string
	IP   packet.IP4 // its VTEP on an IPv4 underlay
	IP6  IP6        // its VTEP on an IPv6 underlay
}

// JoinPort classifies egress: the inner frame of a Geneve packet with this
// VNI and inner destination MAC is addressed to rp, a gateway router's
// (non-external) port. ok is false when the frame is not for us, including
// frames addressed to a distributed router, which the hypervisor runs.
func (t *Topology) JoinPort(vni uint32, dstMAC packet.MAC) (rp *RouterPort, ok bool) {
	rp, ok = t.joinPorts[joinKey{vni, dstMAC}]
	return rp, ok
}

// RedirectPort classifies egress through a distributed gateway port: a
// Geneve frame whose VNI is the key of a router served that way (OVN's
// chassisredirect shape) was routed by that router on the hypervisor and
// leaves through rp, its external port; the frame's outport must be
// rp.RedirectKey. ok is false when no such router has key vni.
func (t *Topology) RedirectPort(vni uint32) (rp *RouterPort, ok bool) {
	rp, ok = t.redirects[vni]
	return rp, ok
}

// SwitchByKey returns the switch whose tunnel key is vni.
func (t *Topology) SwitchByKey(vni uint32) (*Switch, bool) {
	sw, ok := t.switchByKey[vni]
	return sw, ok
}

// RouterByExternalIP classifies ingress: the gateway router that owns ip,
// one of its NAT external addresses or its external port's own address.
// (Config validation guarantees that no address has two owners.) The
// port's own address is included so that the caller can tell "ours, for
// the host stack" from "not ours"; compare with r.External.IP.
func (t *Topology) RouterByExternalIP(ip packet.IP4) (*Router, bool) {
	r, ok := t.byExternalIP[ip]
	return r, ok
}

// IsExternalIP reports whether ip is one of our NAT addresses or an
// external port address.
func (t *Topology) IsExternalIP(ip packet.IP4) bool {
	_, ok := t.byExternalIP[ip]
	return ok
}

// ExternalIPs lists every NAT address and external port address, sorted
// and without duplicates: the XDP program's list of addresses to steer to
// the gateway. Read-only.
func (t *Topology) ExternalIPs() []packet.IP4 { return t.externalIPs }

// NATIPs lists the NAT rules' external addresses, sorted: what the XDP
// program steers to the gateway. External port addresses are the host's
// own (ARP, ping, BGP) and stay with the kernel, unless a rule SNATs to one
// of them, which then shares it with the host. Read-only.
func (t *Topology) NATIPs() []packet.IP4 { return t.natIPs }

// ExternalNextHops lists the next hops of static routes that leave through
// external ports, sorted: the Linux neighbours that must be resolved (and
// kept resolved) for egress to work. Read-only.
func (t *Topology) ExternalNextHops() []packet.IP4 { return t.nextHops }

// RouterPortByIP returns the router port attached to sw whose address is
// ip. The pipeline uses it to find the distributed router behind a gateway
// router's next hop (whose hop the gateway then runs itself), and to answer
// ARP for a gateway port's address over Geneve. A nil sw finds nothing.
func (t *Topology) RouterPortByIP(sw *Switch, ip packet.IP4) (*RouterPort, bool) {
	if sw == nil {
		return nil, false
	}
	rp, ok := sw.routerPortByIP[ip]
	return rp, ok
}

// PeerRouter returns the distributed router port that hop (a gateway
// router's hop onto a switch) leads to: the gateway then runs that
// distributed router's hop itself, as OVN does on the gateway chassis for
// return traffic. ok is false if the next hop is not a distributed
// router's port.
func (t *Topology) PeerRouter(hop Hop) (*RouterPort, bool) {
	if hop.Port == nil {
		return nil, false
	}
	rp, ok := t.RouterPortByIP(hop.Port.Switch, hop.NextHop)
	if !ok || !rp.Router.Distributed {
		return nil, false
	}
	return rp, true
}

// LogicalPort returns the VM with address ip on sw, for the final encap:
// VNI = sw.Key, option = (router port key on sw)<<16 | lp.Key, outer
// destination lp.Chassis. A nil sw finds nothing.
func (t *Topology) LogicalPort(sw *Switch, ip packet.IP4) (*LogicalPort, bool) {
	if sw == nil {
		return nil, false
	}
	lp, ok := sw.logicalByIP[ip]
	return lp, ok
}

// RouterByName returns the router called name (for the control plane and
// tests; not for the per-packet path).
func (t *Topology) RouterByName(name string) (*Router, bool) {
	for _, r := range t.Routers {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// RouterByExternalIP6 is RouterByExternalIP for IPv6: the gateway router
// that owns ip, a NAT66 external address or its external port's own IPv6
// address.
func (t *Topology) RouterByExternalIP6(ip IP6) (*Router, bool) {
	r, ok := t.byExternalIP6[ip]
	return r, ok
}

// IsExternalIP6 reports whether ip is one of our IPv6 NAT addresses or an
// external port's IPv6 address.
func (t *Topology) IsExternalIP6(ip IP6) bool {
	_, ok := t.byExternalIP6[ip]
	return ok
}

// InboundRouter6 classifies routed (not NATed) IPv6 arriving from the
// external side: the gateway router with a static route that leads dst
// inside through a join port, and no source-NAT rule for dst (config
// validation keeps such routed prefixes of different routers apart, so
// at most one router matches). ok is false otherwise; an address that a
// NAT66 rule owns is found with RouterByExternalIP6 instead. It does not
// allocate.
func (t *Topology) InboundRouter6(dst IP6) (*Router, bool) {
	hi, lo := halves(dst)
	for i := range t.inbound6 {
		in := &t.inbound6[i]
		if !in.e.matches(hi, lo) {
			continue
		}
		if hop, ok := in.r.Route6(dst); ok && !hop.Port.External {
			if _, nat := in.r.SNAT6(dst); !nat {
				return in.r, true
			}
		}
	}
	return nil, false
}

// RoutedPrefixes6 lists the gateway routers' routed IPv6 prefixes, the
// ones InboundRouter6 looks in (static routes toward the inside that no
// source-NAT rule covers whole), masked, sorted and without duplicates:
// what the XDP program steers to the gateway besides the NAT66
// addresses. InboundRouter6 still judges each address (a longer NAT66
// rule inside such a prefix takes its addresses). It allocates.
func (t *Topology) RoutedPrefixes6() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(t.inbound6))
	for _, in := range t.inbound6 {
		if p := in.e.prefix.Masked(); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// ExternalIPs6 lists every IPv6 NAT address and external port IPv6
// address, sorted. Read-only.
func (t *Topology) ExternalIPs6() []IP6 { return t.externalIPs6 }

// NATIPs6 lists the NAT66 rules' external addresses, sorted: what the
// gateway answers neighbour solicitations for and steers to itself.
// Read-only.
func (t *Topology) NATIPs6() []IP6 { return t.natIPs6 }

// ExternalNextHops6 lists the IPv6 next hops of static routes that leave
// through external ports, sorted: the kernel neighbours to resolve.
// Read-only.
func (t *Topology) ExternalNextHops6() []IP6 { return t.nextHops6 }

// RouterPortByIP6 is RouterPortByIP for IPv6.
func (t *Topology) RouterPortByIP6(sw *Switch, ip IP6) (*RouterPort, bool) {
	if sw == nil {
		return nil, false
	}
	rp, ok := sw.routerPortByIP6[ip]
	return rp, ok
}

// PeerRouter6 is PeerRouter for an IPv6 hop.
func (t *Topology) PeerRouter6(hop Hop6) (*RouterPort, bool) {
	if hop.Port == nil {
		return nil, false
	}
	rp, ok := t.RouterPortByIP6(hop.Port.Switch, hop.NextHop)
	if !ok || !rp.Router.Distributed {
		return nil, false
	}
	return rp, true
}

// LogicalPort6 is LogicalPort for a VM's IPv6 address.
func (t *Topology) LogicalPort6(sw *Switch, ip IP6) (*LogicalPort, bool) {
	if sw == nil {
		return nil, false
	}
	lp, ok := sw.logicalByIP6[ip]
	return lp, ok
}
