package lab

import (
	"fmt"
	"net"
	"net/netip"
)

// The lab's fixed plan. Every address is from a documentation range
// (RFC 5737) or from the seed's overlay; nothing is routed outside the lab's
// namespaces. Names inside namespaces are fixed (each lab has its own
// namespaces, so two labs never collide); only namespace names carry the
// per-run suffix.
const (
	// Interface names.
	VMIface          = "vm0"  // in each ns vm*: the VM's NIC
	HVUnderlayIface  = "hv-u" // in ns hv: veth in br-phy, peer of gw-u
	GWUnderlayIface  = "gw-u" // in ns gw: xgw's underlay (VTEP) interface
	GWExternalIface  = "gw-x" // in ns gw: xgw's external interface
	ExtIface         = "ext0" // in ns ext: the "internet" host
	GenevePortName   = "gnv0" // OVS Geneve port on br-int
	GenevePortOFPort = 100    // its OpenFlow port number

	// GenevePort is the Geneve UDP destination port (RFC 8926).
	GenevePort = 6081
	// JoinVNI is the join switch's tunnel key: the VNI of VM→gateway traffic.
	JoinVNI = 1
	// SwitchVNI is sw1's tunnel key: the VNI of gateway→VM traffic.
	SwitchVNI = 9
	// JoinOption is the OVN option value on the join switch:
	// inport dr-join (1) << 16 | outport gr1-join (2).
	JoinOption = 1<<16 | 2
	// OVNOptionClass and OVNOptionType identify OVN's Geneve option.
	OVNOptionClass = 0x0102
	OVNOptionType  = 0x80

	// MTUs: the VM's NIC leaves room for Geneve; the underlay has spare.
	VMMTU       = 1400
	UnderlayMTU = 1600
)

// VM describes one VM namespace (the first is role "vm", the n-th "vmN").
type VM struct {
	Role    string           // "vm", "vm2", ...
	NS      string           // full namespace name
	Iface   string           // "vm0"
	IP      netip.Addr       // 10.199.100.10, .11, ...
	MAC     net.HardwareAddr // 00:00:19:91:00:10, :11, ...
	HVPort  string           // its port on br-int in ns hv: "hv-vm1", ...
	OFPort  int              // that port's OpenFlow number: 1, 2, ...
	PortKey int              // its OVN port key on sw1: 2, 3, ...
}

// LabAddrs is everything a test, the demo or a benchmark needs to know about
// a running lab: namespaces, interface names, addresses and MACs.
type LabAddrs struct {
	Name       string            // the run's suffix
	Namespaces map[string]string // role ("vm", "vm2", "hv", "gw", "ext") → namespace
	WorkDir    string            // logs, OVS run/db dirs, server stats
	OVSRunDir  string            // OVS_RUNDIR of the private OVS (ns hv)

	VMs         []VM
	VMPrefix    netip.Prefix     // 10.199.100.0/24 (logical switch sw1)
	VMGateway   netip.Addr       // 10.199.100.1 (DR port dr-sw1)
	VMGWMAC     net.HardwareAddr // ae:95:95:65:27:a6
	DRJoinMAC   net.HardwareAddr // ae:03:03:17:eb:df (inner eth src, egress)
	GRJoinMAC   net.HardwareAddr // ae:cd:cd:04:d7:d4 (inner eth dst, egress)
	DRJoinIP    netip.Prefix     // 172.16.255.2/24
	GRJoinIP    netip.Prefix     // 172.16.255.3/24
	UnderlayNet netip.Prefix     // 192.0.2.0/24

	HVUnderlayIP  netip.Addr       // 192.0.2.2 (on br-phy's internal port)
	HVUnderlayMAC net.HardwareAddr // br-phy's MAC (fixed: 02:00:c0:00:02:02)

	GWUnderlay    string           // "gw-u"
	GWUnderlayMAC net.HardwareAddr // fixed: 02:00:c0:00:02:01
	VTEPIP        netip.Addr       // 192.0.2.1
	GWExternal    string           // "gw-x"
	GWExternalMAC net.HardwareAddr // ae:a9:a9:0c:6f:c8 (= GR external port MAC)
	GWExternalIP  netip.Prefix     // 198.51.100.1/24 (GR external port)

	ExtIface string           // "ext0"
	ExtIP    netip.Addr       // 198.51.100.2 (default route's next hop)
	ExtMAC   net.HardwareAddr // fixed: 02:00:c6:33:64:02
	SNATIP   netip.Addr       // 203.0.113.10

	IperfPort int // 5201

	// V6 is the IPv6 half of a dual-stack lab (Options.DualStack), nil
	// in an IPv4 lab.
	V6 *LabAddrs6 `json:",omitempty"`
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func newAddrs(name, workDir string, vms int) LabAddrs {
	a := LabAddrs{
		Name:          name,
		Namespaces:    map[string]string{},
		WorkDir:       workDir,
		OVSRunDir:     workDir + "/ovs/run",
		VMPrefix:      netip.MustParsePrefix("10.199.100.0/24"),
		VMGateway:     netip.MustParseAddr("10.199.100.1"),
		VMGWMAC:       mustMAC("ae:95:95:65:27:a6"),
		DRJoinMAC:     mustMAC("ae:03:03:17:eb:df"),
		GRJoinMAC:     mustMAC("ae:cd:cd:04:d7:d4"),
		DRJoinIP:      netip.MustParsePrefix("172.16.255.2/24"),
		GRJoinIP:      netip.MustParsePrefix("172.16.255.3/24"),
		UnderlayNet:   netip.MustParsePrefix("192.0.2.0/24"),
		HVUnderlayIP:  netip.MustParseAddr("192.0.2.2"),
		HVUnderlayMAC: mustMAC("02:00:c0:00:02:02"),
		GWUnderlay:    GWUnderlayIface,
		GWUnderlayMAC: mustMAC("02:00:c0:00:02:01"),
		VTEPIP:        netip.MustParseAddr("192.0.2.1"),
		GWExternal:    GWExternalIface,
		GWExternalMAC: mustMAC("ae:a9:a9:0c:6f:c8"),
		GWExternalIP:  netip.MustParsePrefix("198.51.100.1/24"),
		ExtIface:      ExtIface,
		ExtIP:         netip.MustParseAddr("198.51.100.2"),
		ExtMAC:        mustMAC("02:00:c6:33:64:02"),
		SNATIP:        netip.MustParseAddr("203.0.113.10"),
		IperfPort:     5201,
	}
	for _, r := range []string{"hv", "gw", "ext"} {
		a.Namespaces[r] = nsName(name, r)
	}
	for i := 1; i <= vms; i++ {
		role := "vm"
		if i > 1 {
			role = fmt.Sprintf("vm%d", i)
		}
		a.Namespaces[role] = nsName(name, role)
		ip := netip.AddrFrom4([4]byte{10, 199, 100, byte(9 + i)})
		a.VMs = append(a.VMs, VM{
			Role:    role,
			NS:      nsName(name, role),
			Iface:   VMIface,
			IP:      ip,
			MAC:     net.HardwareAddr{0x00, 0x00, 0x19, 0x91, 0x00, byte(0x0f + i)},
			HVPort:  fmt.Sprintf("hv-vm%d", i),
			OFPort:  i,
			PortKey: 1 + i,
		})
	}
	return a
}

// NSPrefix is the prefix of every lab namespace; a lab's namespaces are
// NSPrefix + name + "-" + role.
const NSPrefix = "xgwlab-"

func nsName(name, role string) string { return NSPrefix + name + "-" + role }
