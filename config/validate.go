package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/xgw-dev/xgw/packet"
)

// Validate checks the whole configuration and returns every problem found,
// joined, each naming its field path (and line, for a parsed file). A nil
// result guarantees what route.Build relies on: every value parses, every
// reference resolves and every lookup key is unique.
func (c *Config) Validate() error {
	v := &validator{c: c, p: &problems{lines: c.lines}}
	v.interfaces()
	v.ovn()
	v.geneve()
	v.conntrack()
	v.chassis()
	v.routers()
	v.switches()
	v.attachments()
	v.routes()
	v.nat()
	v.routed6()
	v.externalAddresses()
	v.hostNAT()
	v.offloadAndControl()
	v.afxdp()
	return v.p.err()
}

// afxdp checks the socket sizes as afxdp.Open would, so that a bad size
// is refused with the file's line instead of at start-up.
func (v *validator) afxdp() {
	a := v.c.AFXDP
	for _, f := range []struct {
		name string
		n    int
	}{{"frames", a.Frames}, {"fill_ring", a.FillRing}, {"rx_ring", a.RxRing}, {"tx_ring", a.TxRing}, {"completion_ring", a.CompletionRing}} {
		if f.n < 0 {
			v.p.add("afxdp."+f.name, "%d is negative", f.n)
			return
		}
	}
	if err := a.Port().Validate(); err != nil {
		v.p.add("afxdp", "%v", err)
	}
}

// validator carries the indexes built by one section for the next ones.
type validator struct {
	c *Config
	p *problems

	vtep        packet.IP4 // interfaces.underlay.vtep_ip, zero if absent
	vtep6       netip.Addr // interfaces.underlay.vtep_ip6, invalid if absent
	chassisByNm map[string]bool
	portByName  map[string]portRef // router port name -> where it is defined
	attachedAt  map[string]string  // router port name -> path of its switch port
	routerVNIs  map[uint32]string  // router key -> path of its router
}

// portRef locates a router port in the config.
type portRef struct{ router, port int }

func (r portRef) path() string { return fmt.Sprintf("routers[%d].ports[%d]", r.router, r.port) }

// required reports a missing value and returns false if s is empty.
func (v *validator) required(path string, s string) bool {
	if s == "" {
		v.p.add(path, "required")
		return false
	}
	return true
}

func (v *validator) interfaces() {
	u := v.c.Interfaces.Underlay
	v.required("interfaces.underlay.name", u.Name)
	// An IPv6-only underlay needs no IPv4 VTEP; one of the two is needed.
	if u.VTEPIP != "" || (u.VTEPIP6 == "" && v.required("interfaces.underlay.vtep_ip", "")) {
		ip, err := u.VTEPIP.Parse()
		v.p.check("interfaces.underlay.vtep_ip", err)
		v.vtep = ip
	}
	if u.VTEPIP6 != "" {
		a, err := u.VTEPIP6.Parse()
		if err == nil {
			err = unicast6("our VTEP", a)
		}
		v.p.check("interfaces.underlay.vtep_ip6", err)
		if err == nil {
			v.vtep6 = a
		}
	}
	v.required("interfaces.external.name", v.c.Interfaces.External.Name)
}

func (v *validator) geneve() {
	g := v.c.Geneve
	if g.Port == 0 {
		v.p.add("geneve.port", "must be 1..65535 (call ApplyDefaults for 6081)")
	}
	if g.TTL == 0 {
		v.p.add("geneve.ttl", "must be 1..255 (call ApplyDefaults for 64)")
	}
}

func (v *validator) conntrack() {
	ct := v.c.Conntrack
	if ct.Capacity < 0 {
		v.p.add("conntrack.capacity", "%d is negative", ct.Capacity)
	}
	for _, f := range ct.Timeouts.list() {
		_, err := f.d.Parse()
		v.p.check("conntrack.timeouts."+f.key, err)
	}
}

// list pairs each timeout with its key, for validation and for consumers
// that want to iterate.
func (t Timeouts) list() []struct {
	key string
	d   Duration
} {
	return []struct {
		key string
		d   Duration
	}{
		{"tcp_syn_sent", t.TCPSynSent}, {"tcp_syn_recv", t.TCPSynRecv},
		{"tcp_established", t.TCPEstablished}, {"tcp_fin_wait", t.TCPFinWait},
		{"tcp_time_wait", t.TCPTimeWait}, {"tcp_close", t.TCPClose},
		{"udp_first", t.UDPFirst}, {"udp_single", t.UDPSingle}, {"udp_multiple", t.UDPMultiple},
		{"icmp_first", t.ICMPFirst}, {"icmp_reply", t.ICMPReply},
	}
}

func (v *validator) chassis() {
	v.chassisByNm = map[string]bool{}
	ips := map[netip.Addr]string{}
	for i, ch := range v.c.Chassis {
		path := fmt.Sprintf("chassis[%d]", i)
		if v.required(path+".name", ch.Name) {
			if v.chassisByNm[ch.Name] {
				v.p.add(path+".name", "chassis %q is listed twice", ch.Name)
			}
			v.chassisByNm[ch.Name] = true
		}
		if !v.required(path+".ip", string(ch.IP)) {
			continue
		}
		ip, err := ch.IP.Parse()
		if err == nil && ip.Is6() {
			err = unicast6("a chassis' encap IP", ip)
		}
		if err != nil {
			v.p.check(path+".ip", err)
			continue
		}
		switch {
		case ip.Is4() && ip == v.vtep.Addr(), ip.Is6() && ip == v.vtep6:
			v.p.add(path+".ip", "%s is the gateway's own VTEP", ip)
		case ip.Is4() && v.vtep.IsZero() && v.c.Interfaces.Underlay.VTEPIP == "":
			v.p.add(path+".ip", "%s is an IPv4 encap IP: Geneve to it needs interfaces.underlay.vtep_ip", ip)
		case ip.Is6() && !v.vtep6.IsValid() && v.c.Interfaces.Underlay.VTEPIP6 == "":
			v.p.add(path+".ip", "%s is an IPv6 encap IP: Geneve over IPv6 to it needs interfaces.underlay.vtep_ip6", ip)
		}
		if other, dup := ips[ip]; dup {
			v.p.add(path+".ip", "%s is also %s", ip, other)
		}
		ips[ip] = path + ".ip"
	}
}

// unicast6 refuses IPv6 addresses that cannot be a routed endpoint: the
// unspecified address, loopback, multicast, IPv4-mapped, and link-local
// (which is only meaningful with an interface, and which OVN derives
// from a port's MAC rather than configuring). what names the role.
func unicast6(what string, a netip.Addr) error {
	switch {
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.Is4In6():
		return fmt.Errorf("%s is not a unicast address; %s must be one", a, what)
	case a.IsLinkLocalUnicast():
		return fmt.Errorf("%s is link-local, valid on one link only; %s must be a global or unique-local address", a, what)
	}
	return nil
}

func (v *validator) offloadAndControl() {
	o := v.c.Offload
	if o.UDPOnewayPackets < 0 {
		v.p.add("offload.udp_oneway_packets", "%d is negative", o.UDPOnewayPackets)
	}
	if o.UDPOnewayMS < 0 {
		v.p.add("offload.udp_oneway_ms", "%d is negative", o.UDPOnewayMS)
	}
	if o.Flows < 0 {
		v.p.add("offload.flows", "%d is negative", o.Flows)
	}
	if p := o.PinPath; p != "" && p != "none" && !filepath.IsAbs(p) {
		v.p.add("offload.pin_path", "%q is not an absolute path (or \"none\")", p)
	}
	switch x := v.c.XDP; x.Attach {
	case XDPAttachSelf:
		if x.PinPath != "" {
			v.p.add("xdp.pin_path", "only used with attach: adopt (xgw's own pins go under offload.pin_path)")
		}
	case XDPAttachAdopt:
		if !filepath.IsAbs(x.PinPath) {
			v.p.add("xdp.pin_path", "%q is not an absolute path", x.PinPath)
		}
	default:
		v.p.add("xdp.attach", "%q: want self or adopt", x.Attach)
	}
	if s := v.c.Control.Socket; s == "" || !filepath.IsAbs(s) {
		v.p.add("control.socket", "%q is not an absolute path", s)
	}
	v.metrics()
}

// metrics checks metrics.listen: "off", or a literal IP and a port. Host
// names are refused so that starting the gateway never waits on DNS.
func (v *validator) metrics() {
	l := v.c.Metrics.Listen
	if l == MetricsOff || l == "" {
		return
	}
	host, port, err := net.SplitHostPort(l)
	if err != nil {
		v.p.add("metrics.listen", "%q: want IP:PORT (e.g. 127.0.0.1:9477) or \"off\"", l)
		return
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.p.add("metrics.listen", "%q: %q is not an IP address (host names are not resolved)", l, host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.p.add("metrics.listen", "%q: port %q is not 1..65535", l, port)
	}
}
