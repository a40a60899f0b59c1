package config

import "github.com/xgw-dev/xgw/datapath/afxdp"

// Config is one gateway's configuration file. The yaml tags are the file's
// keys; doc.go describes each of them. A Config straight from Parse or Load
// has its defaults applied and has been validated.
type Config struct {
	Interfaces Interfaces `yaml:"interfaces"`
	Geneve     Geneve     `yaml:"geneve"`
	Conntrack  Conntrack  `yaml:"conntrack"`
	Chassis    []Chassis  `yaml:"chassis"`
	Switches   []Switch   `yaml:"switches"`
	Routers    []Router   `yaml:"routers"`
	Offload    Offload    `yaml:"offload"`
	AFXDP      AFXDP      `yaml:"afxdp"`
	ICMP       ICMP       `yaml:"icmp"`
	XDP        XDP        `yaml:"xdp"`
	Control    Control    `yaml:"control"`
	Metrics    Metrics    `yaml:"metrics"`
	// OVN, when present, makes xgw an OVN gateway chassis: the topology
	// (chassis, switches, routers) comes from OVN's databases and must
	// not be written in the file (ovn.go).
	OVN *OVN `yaml:"ovn"`

	// lines maps field paths to the line they were written on, so that
	// Validate can point at the file. Nil for a Config built in Go.
	lines *lineIndex
}

// ICMP limits the ICMP messages the gateway's routers generate (time
// exceeded, echo replies), per source address of the packet that caused
// them, as OVN meters controller-generated packets.
type ICMP struct {
	Rate  int `yaml:"rate"`  // per second per source; 0 = 100; negative = never generate
	Burst int `yaml:"burst"` // messages in a burst; 0 = Rate
}

// Interfaces names the Linux interfaces the gateway attaches to.
type Interfaces struct {
	Underlay UnderlayInterface `yaml:"underlay"`
	External ExternalInterface `yaml:"external"`
}

// UnderlayInterface is where Geneve arrives from and leaves to the chassis.
type UnderlayInterface struct {
	Name   string `yaml:"name"`
	VTEPIP IPv4   `yaml:"vtep_ip"` // outer source IP of our Geneve packets to IPv4 chassis
	// VTEPIP6 is the outer source of Geneve over an IPv6 underlay, to
	// chassis whose encap IP is IPv6. At least one of the two is needed.
	VTEPIP6 IPv6 `yaml:"vtep_ip6"`
	MTU     int  `yaml:"mtu"` // largest outer IPv4 packet; 0 = the interface's
}

// ExternalInterface carries plain (NATed) traffic to and from the outside.
// It may name the same interface as the underlay.
type ExternalInterface struct {
	Name string `yaml:"name"`
	MTU  int    `yaml:"mtu"` // largest IPv4 packet sent; 0 = the interface's
}

// Geneve holds the tunnel parameters of encapsulated output.
type Geneve struct {
	Port     uint16 `yaml:"port"`     // UDP destination port; 0 = 6081
	Checksum *bool  `yaml:"checksum"` // outer UDP checksum; absent = true (OVN's csum=true)
	TTL      uint8  `yaml:"ttl"`      // outer IPv4 TTL; 0 = 64
	// CheckOutport drops Geneve without OVN's option or whose outport is
	// not the gateway router's join port; absent = true.
	CheckOutport *bool `yaml:"check_outport"`
}

// CheckOutportEnabled reports the effective check_outport (true if absent).
func (g Geneve) CheckOutportEnabled() bool { return g.CheckOutport == nil || *g.CheckOutport }

// ChecksumEnabled reports the effective checksum setting (true if absent).
func (g Geneve) ChecksumEnabled() bool { return g.Checksum == nil || *g.Checksum }

// AFXDP sizes each AF_XDP socket, one per interface and RX queue. Zero
// fields take datapath/afxdp's defaults: 16384 frames (32 MiB of UMEM per
// socket), fill and RX rings of 8192, TX and completion rings of 4096,
// enough for a worker to stall 200 ms at 27 kpps without a drop (a
// stall of S seconds at R pps needs fill and RX rings of at least S*R).
// Memory per socket is frames * 2057 bytes plus 16 bytes per RX and TX
// entry and 8 per fill and completion entry. Sizes are powers of two;
// fill and TX rings smaller than frames, completion at least TX.
type AFXDP struct {
	Frames         int `yaml:"frames"`
	FillRing       int `yaml:"fill_ring"`
	RxRing         int `yaml:"rx_ring"`
	TxRing         int `yaml:"tx_ring"`
	CompletionRing int `yaml:"completion_ring"`
}

// Port is the afxdp configuration of a; zero fields stay zero (defaults).
func (a AFXDP) Port() afxdp.Config {
	return afxdp.Config{NumFrames: a.Frames, FillRingSize: a.FillRing, RxRingSize: a.RxRing,
		TxRingSize: a.TxRing, CompletionRingSize: a.CompletionRing}
}

// Conntrack sizes the connection table and overrides its timeouts.
type Conntrack struct {
	Capacity int      `yaml:"capacity"` // max connections; 0 = conntrack's default
	Timeouts Timeouts `yaml:"timeouts"`
}

// Timeouts are those of OVS userspace conntrack, under the names of
// ovs-vsctl's CT_Timeout_Policy keys, so that a policy can be carried over.
// Empty or zero means the conntrack package's default (OVS's).
type Timeouts struct {
	TCPSynSent     Duration `yaml:"tcp_syn_sent"`
	TCPSynRecv     Duration `yaml:"tcp_syn_recv"`
	TCPEstablished Duration `yaml:"tcp_established"`
	TCPFinWait     Duration `yaml:"tcp_fin_wait"`
	TCPTimeWait    Duration `yaml:"tcp_time_wait"`
	TCPClose       Duration `yaml:"tcp_close"`
	UDPFirst       Duration `yaml:"udp_first"`
	UDPSingle      Duration `yaml:"udp_single"`
	UDPMultiple    Duration `yaml:"udp_multiple"`
	ICMPFirst      Duration `yaml:"icmp_first"`
	ICMPReply      Duration `yaml:"icmp_reply"`
}

// Chassis is a hypervisor that hosts logical ports (VMs).
type Chassis struct {
	Name string `yaml:"name"`
	IP   IP     `yaml:"ip"` // its Geneve VTEP (OVN's Encap ip), IPv4 or IPv6
}

// Switch is an OVN logical switch (datapath) whose traffic crosses the
// gateway: a join switch between a distributed and a gateway router, or a
// tenant switch that return traffic is delivered to.
type Switch struct {
	Name  string       `yaml:"name"`
	Key   uint32       `yaml:"key"` // datapath tunnel key = Geneve VNI
	Ports []SwitchPort `yaml:"ports"`
}

// SwitchPort is a logical switch port: either the attachment of a router
// port (RouterPort set) or a VM bound to a chassis (MAC, IP, Chassis set).
type SwitchPort struct {
	Name       string    `yaml:"name"`
	Key        uint16    `yaml:"key"`         // port tunnel key, 1..32767
	RouterPort string    `yaml:"router_port"` // name of the attached router port
	MAC        MAC       `yaml:"mac"`         // VM only
	IP         Addresses `yaml:"ip"`          // VM only: IPv4, IPv6 or both ("10.0.0.5 fd00::5")
	Chassis    string    `yaml:"chassis"`     // VM only: name of the hosting chassis
}

// IsRouter reports whether p attaches a router port rather than a VM.
func (p SwitchPort) IsRouter() bool { return p.RouterPort != "" }

// Router is an OVN logical router.
type Router struct {
	Name        string       `yaml:"name"`
	Distributed bool         `yaml:"distributed"`
	Zones       Zones        `yaml:"zones"`
	Ports       []RouterPort `yaml:"ports"`
	Routes      []Route      `yaml:"routes"`
	NAT         []NAT        `yaml:"nat"`

	// Key is the router's own datapath tunnel key, set only for a router
	// served through a distributed gateway port (OVN's chassisredirect
	// shape): hypervisors route its traffic themselves and tunnel it to
	// the gateway with this key as VNI and the external port's
	// RedirectKey as outport. 0 for every other router.
	Key uint32 `yaml:"key"`
}

// Zones are the router's two conntrack zones, as OVN allocates them.
type Zones struct {
	DNAT uint16 `yaml:"dnat"`
	SNAT uint16 `yaml:"snat"`
}

// RouterPort is a logical router port.
type RouterPort struct {
	Name     string `yaml:"name"`
	MAC      MAC    `yaml:"mac"`
	IP       CIDR   `yaml:"ip"`       // address/len (one per family): the port's address and connected subnet
	External bool   `yaml:"external"` // on the external network, not on a logical switch
	// RedirectKey is the chassisredirect port's tunnel key (the Geneve
	// outport of redirected traffic): the external port of a router
	// with a Key only.
	RedirectKey uint16 `yaml:"redirect_key"`
}

// Route is a static route of a router: IPv4 or IPv6 ("::/0" is the IPv6
// default route), prefix and next hop of the same family.
type Route struct {
	Prefix  Prefix `yaml:"prefix"`
	NextHop IP     `yaml:"nexthop"`
}

// NAT is one NAT rule of a gateway router: NAT44 or, with IPv6 logical and
// external addresses, NAT66 (OVN allows both; never across families).
// IPv6 traffic that no rule covers is routed without NAT, OVN's default.
type NAT struct {
	Type       NATType   `yaml:"type"`       // snat, dnat or dnat_and_snat
	LogicalIP  Prefix    `yaml:"logical_ip"` // snat: a network; dnat*: one address
	ExternalIP IP        `yaml:"external_ip"`
	PortRange  PortRange `yaml:"port_range"` // snat*: source ports to allocate; empty = DefaultPorts
	// Mapping is "endpoint-independent" or "endpoint-dependent" (the
	// default, as OVS): snat* only (RFC 4787 REQ-1).
	Mapping NATMapping `yaml:"mapping"`
}

// Offload is the offload manager's section, reserved: parsed strictly and
// passed on.
type Offload struct {
	Enabled bool `yaml:"enabled"`
	// UDPOneway, when false, keeps UDP flows that were never answered in
	// software, as OVS does (the seed's failure); default true.
	UDPOneway *bool `yaml:"udp_oneway"`
	// UDPOnewayPackets promotes a one-way UDP flow to the fast path after
	// this many packets in one direction; 0 = the manager's default.
	UDPOnewayPackets int `yaml:"udp_oneway_packets"`
	// UDPOnewayMS promotes it after this many milliseconds; 0 = default.
	UDPOnewayMS int `yaml:"udp_oneway_ms"`
	// Flows is the size of the fast path's flow map (two entries per
	// connection); 0 = the XDP program's default.
	Flows int `yaml:"flows"`
	// PinPath is the bpffs directory where the fast-path maps and XDP
	// links are pinned, so that a restart of xgw keeps forwarding;
	// default /sys/fs/bpf/xgw, "none" to pin nothing.
	PinPath string `yaml:"pin_path"`
}

// OnewayEnabled reports the udp_oneway policy, true when absent.
func (o Offload) OnewayEnabled() bool { return o.UDPOneway == nil || *o.UDPOneway }

// DefaultPinPath is where xgw pins its fast-path state.
const DefaultPinPath = "/sys/fs/bpf/xgw"

// XDP says who attaches the XDP program xdp_gw to the interfaces.
type XDP struct {
	// Attach is XDPAttachSelf (default): xgw loads and attaches xdp_gw
	// itself; or XDPAttachAdopt: an operator attached it (ip link,
	// bpftool; see bpf/README.md) with its maps pinned by name, and xgw
	// opens those maps, programs them and detaches nothing.
	Attach string `yaml:"attach"`
	// PinPath is where adopt mode finds the pinned maps; default
	// DefaultXDPPinPath, where iproute2 pins them. Only with adopt (self
	// mode pins under offload.pin_path).
	PinPath string `yaml:"pin_path"`
}

// XDP.Attach values.
const (
	XDPAttachSelf  = "self"
	XDPAttachAdopt = "adopt"
)

// DefaultXDPPinPath is iproute2's directory for the by-name maps of an
// XDP object it loads (<bpffs>/xdp/globals, a link to tc/globals).
const DefaultXDPPinPath = "/sys/fs/bpf/xdp/globals"

// Control configures the local control socket of xgw's CLI.
type Control struct {
	Socket string `yaml:"socket"` // unix socket path; empty = /run/xgw/xgw.sock
}

// Metrics configures the Prometheus endpoint of `xgw run`.
type Metrics struct {
	// Listen is the TCP address of the HTTP server that serves /metrics:
	// a literal IP and a port. Empty = DefaultMetricsListen (loopback, so
	// that counters which reveal traffic volumes are not published to the
	// networks the gateway forwards for unless asked); "off" disables it.
	Listen string `yaml:"listen"`
}

// MetricsOff is the Metrics.Listen value that disables the endpoint.
const MetricsOff = "off"
