package lab

import (
	"net"
	"net/netip"
)

// The dual-stack plan (Options.DualStack; README.md "Dual stack"). IPv6 is
// added beside the IPv4 plan, never instead of it: every IPv4 address, MAC,
// key and flow stays as it is. Inside addresses are unique-local (fd00::/8),
// outside ones documentation addresses (2001:db8::/32), so nothing here is
// routable outside the lab's namespaces either.
const (
	// RoutedVMRole is the role of the dual-stack lab's IPv6-only VM on
	// sw2, whose global prefix is routed without NAT.
	RoutedVMRole = "vmr"
	// RoutedSwitchVNI is sw2's tunnel key: the VNI of gateway→vmr traffic.
	RoutedSwitchVNI = 10
	// RoutedVMOFPort is vmr's port on br-int (clear of the sw1 VMs' 1..200).
	RoutedVMOFPort = 250
)

// LabAddrs6 is the IPv6 half of a dual-stack lab (LabAddrs.V6).
type LabAddrs6 struct {
	// Underlay6: Geneve between hv and gw runs over IPv6 (the chassis'
	// encap IP is HVUnderlayIP, xgw's vtep_ip6 VTEPIP).
	Underlay6 bool

	// The tenant of sw1: a unique-local prefix, SNATed (NAT66) to SNATIP.
	// VMIPs[i] is LabAddrs.VMs[i]'s address, fd00:199:100::10, ::11, ...
	VMPrefix  netip.Prefix // fd00:199:100::/64
	VMGateway netip.Addr   // fd00:199:100::1 (DR port dr-sw1)
	VMIPs     []netip.Addr
	// DNATVM is the index in VMs of the VM behind DNATIP (dnat_and_snat);
	// -1 in a lab with one VM.
	DNATVM int

	// The IPv6-only tenant of sw2 (role vmr): a global prefix that no NAT
	// rule covers, routed without NAT (OVN's default for IPv6).
	RoutedPrefix  netip.Prefix     // 2001:db8:200::/64
	RoutedGateway netip.Addr       // 2001:db8:200::1 (DR port dr-sw2)
	RoutedGWMAC   net.HardwareAddr // ae:95:95:65:27:a7
	RoutedVM      VM               // vmr: IP is invalid, see RoutedIP
	RoutedIP      netip.Addr       // 2001:db8:200::20

	DRJoinIP netip.Prefix // fd00:16::2/64
	GRJoinIP netip.Prefix // fd00:16::3/64

	// The underlay's IPv6 addresses (on gw-u and br-phy whether or not
	// Underlay6 carries Geneve over them).
	UnderlayNet  netip.Prefix // fd00:c000:2::/64
	HVUnderlayIP netip.Addr   // fd00:c000:2::2
	VTEPIP       netip.Addr   // fd00:c000:2::1

	GWExternalIP netip.Prefix // 2001:db8:5::1/64 (GR external port, gw-x)
	ExtIP        netip.Addr   // 2001:db8:5::2 (ext0; the GR's ::/0 next hop)
	// SNATIP is sw1's NAT66 address: off-link for ext, which routes
	// SNATPrefix to GWExternalIP (as 203.0.113.10 for IPv4).
	SNATIP     netip.Addr   // 2001:db8:113::10
	SNATPrefix netip.Prefix // 2001:db8:113::/64
	// DNATIP is the dnat_and_snat address of VMs[DNATVM]: on ext's own
	// link with no static neighbour, so ext reaches it only if the gateway
	// answers neighbour solicitations for it.
	DNATIP netip.Addr // 2001:db8:5::20
}

// newAddrs6 is the dual-stack plan for a lab with vms sw1 VMs.
func newAddrs6(name string, vms int, underlay6 bool) *LabAddrs6 {
	a := &LabAddrs6{
		Underlay6:     underlay6,
		VMPrefix:      netip.MustParsePrefix("fd00:199:100::/64"),
		VMGateway:     netip.MustParseAddr("fd00:199:100::1"),
		DNATVM:        -1,
		RoutedPrefix:  netip.MustParsePrefix("2001:db8:200::/64"),
		RoutedGateway: netip.MustParseAddr("2001:db8:200::1"),
		RoutedGWMAC:   mustMAC("ae:95:95:65:27:a7"),
		RoutedIP:      netip.MustParseAddr("2001:db8:200::20"),
		DRJoinIP:      netip.MustParsePrefix("fd00:16::2/64"),
		GRJoinIP:      netip.MustParsePrefix("fd00:16::3/64"),
		UnderlayNet:   netip.MustParsePrefix("fd00:c000:2::/64"),
		HVUnderlayIP:  netip.MustParseAddr("fd00:c000:2::2"),
		VTEPIP:        netip.MustParseAddr("fd00:c000:2::1"),
		GWExternalIP:  netip.MustParsePrefix("2001:db8:5::1/64"),
		ExtIP:         netip.MustParseAddr("2001:db8:5::2"),
		SNATIP:        netip.MustParseAddr("2001:db8:113::10"),
		SNATPrefix:    netip.MustParsePrefix("2001:db8:113::/64"),
		DNATIP:        netip.MustParseAddr("2001:db8:5::20"),
	}
	for i := 1; i <= vms; i++ {
		b := a.VMPrefix.Addr().As16()
		b[15] = byte(0x0f + i) // ::10, ::11, ... as the IPv4 .10, .11
		a.VMIPs = append(a.VMIPs, netip.AddrFrom16(b))
	}
	if vms >= 2 {
		a.DNATVM = 1 // vm2: vm keeps sw1's SNAT
	}
	a.RoutedVM = VM{
		Role:    RoutedVMRole,
		NS:      nsName(name, RoutedVMRole),
		Iface:   VMIface,
		MAC:     mustMAC("00:00:19:91:00:20"),
		HVPort:  "hv-vmr",
		OFPort:  RoutedVMOFPort,
		PortKey: 2,
	}
	return a
}

// VMIP6 returns the IPv6 address of a VM role ("vm", "vm2", ..., "vmr"),
// invalid if the lab is not dual stack or has no such VM.
func (a *LabAddrs) VMIP6(role string) netip.Addr {
	if a.V6 == nil {
		return netip.Addr{}
	}
	if role == RoutedVMRole {
		return a.V6.RoutedIP
	}
	for i, vm := range a.VMs {
		if vm.Role == role || (role == "vm1" && i == 0) {
			return a.V6.VMIPs[i]
		}
	}
	return netip.Addr{}
}

// ChassisIP is the hypervisor's Geneve encap IP: IPv6 on an IPv6 underlay.
func (a *LabAddrs) ChassisIP() netip.Addr {
	if a.V6 != nil && a.V6.Underlay6 {
		return a.V6.HVUnderlayIP
	}
	return a.HVUnderlayIP
}

// GatewayVTEP is the gateway's Geneve address the hypervisor sends to.
func (a *LabAddrs) GatewayVTEP() netip.Addr {
	if a.V6 != nil && a.V6.Underlay6 {
		return a.V6.VTEPIP
	}
	return a.VTEPIP
}
