package lab

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
)

// The OVN lab's fixed plan (see ovn.go and README.md "The OVN lab"). Logical
// names are those of the NB database, which is private to each lab; only the
// namespaces carry the per-run suffix.
const (
	// GatewayChassis is the chassis name that the gateway router is bound
	// to (options:chassis): xgw's, or the baseline ovn-controller's.
	GatewayChassis = "gateway01"
	// PhysNet is the localnet port's network_name on the external switch.
	PhysNet = "physnet1"
	// OVNGatewayRouter, OVNDistributedRouter, OVNJoinSwitch,
	// OVNTenantSwitch and OVNExternalSwitch are the logical topology's names.
	OVNGatewayRouter     = "gr"
	OVNDistributedRouter = "dr"
	OVNJoinSwitch        = "join"
	OVNTenantSwitch      = "sw1"
	OVNExternalSwitch    = "ext"
	// DistributedGatewayPort is dr's gateway port in the
	// DistributedGateway shape (its chassisredirect binding is
	// "cr-dr-ext").
	DistributedGatewayPort = "dr-ext"
	// UnderlayBridge is the Linux bridge in ns ovn that joins the
	// chassis' underlay veths (hv1, hv2, gw): one L2 segment, as a rack.
	UnderlayBridge = "ul"
)

// OVNChassis is a hypervisor of the OVN lab: a namespace with a private OVS
// (netdev datapath) and ovn-controller.
type OVNChassis struct {
	Name       string           // system-id and role: "hv1", "hv2"
	NS         string           // full namespace name
	UnderlayIP netip.Addr       // ovn-encap-ip, on br-phy's internal port
	MAC        net.HardwareAddr // br-phy's MAC
}

// OVNVM is a VM of the OVN lab: a namespace whose NIC's peer is an OVS
// interface on its chassis' br-int with external_ids:iface-id = LSP.
type OVNVM struct {
	VM
	LSP     string // logical switch port (= iface-id): "vm1", ...
	Chassis string // where it starts: "hv1" or "hv2"
}

// OVNAddrs is the OVN lab's plan on top of LabAddrs (which keeps the shared
// fields: namespaces, ext host, gw interfaces, SNAT address).
type OVNAddrs struct {
	NBSock, SBSock string // unix sockets of the NB and SB ovsdb-servers
	NBRemote       string // "unix:" + NBSock
	SBRemote       string // "unix:" + SBSock

	Chassis []OVNChassis
	VMs     []OVNVM
	// FloatingIP is a dnat_and_snat address for FIPVM (vm3).
	FloatingIP netip.Addr
	FIPVM      string
	// ExtNAT is the prefix the ext host routes via the GR's external IP
	// (every NAT address the tests use is in it).
	ExtNAT netip.Prefix
}

// newOVNAddrs plans an OVN lab: central in ns ovn, hv1 and hv2, gw, ext,
// and three VMs on sw1 (vm1 and vm3 on hv1, vm2 on hv2).
func newOVNAddrs(name, workDir string) (LabAddrs, OVNAddrs) {
	a := newAddrs(name, workDir, 0)
	delete(a.Namespaces, "hv")
	a.OVSRunDir = ""
	a.HVUnderlayIP, a.HVUnderlayMAC = netip.Addr{}, nil
	o := OVNAddrs{
		NBSock:     filepath.Join(workDir, "ovn", "nb.sock"),
		SBSock:     filepath.Join(workDir, "ovn", "sb.sock"),
		FloatingIP: netip.MustParseAddr("203.0.113.20"),
		FIPVM:      "vm3",
		ExtNAT:     netip.MustParsePrefix("203.0.113.0/24"),
	}
	o.NBRemote, o.SBRemote = "unix:"+o.NBSock, "unix:"+o.SBSock
	a.Namespaces["ovn"] = nsName(name, "ovn")
	for i := 1; i <= 2; i++ {
		hv := fmt.Sprintf("hv%d", i)
		a.Namespaces[hv] = nsName(name, hv)
		o.Chassis = append(o.Chassis, OVNChassis{
			Name:       hv,
			NS:         nsName(name, hv),
			UnderlayIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}),
			MAC:        net.HardwareAddr{0x02, 0x00, 0xc0, 0x00, 0x02, byte(1 + i)},
		})
	}
	for i, hv := range []string{"hv1", "hv2", "hv1"} {
		n := i + 1
		role := fmt.Sprintf("vm%d", n)
		a.Namespaces[role] = nsName(name, role)
		vm := VM{
			Role:   role,
			NS:     nsName(name, role),
			Iface:  VMIface,
			IP:     netip.AddrFrom4([4]byte{10, 199, 100, byte(9 + n)}),
			MAC:    net.HardwareAddr{0x00, 0x00, 0x19, 0x91, 0x00, byte(0x0f + n)},
			HVPort: fmt.Sprintf("hv-vm%d", n),
		}
		a.VMs = append(a.VMs, vm)
		o.VMs = append(o.VMs, OVNVM{VM: vm, LSP: role, Chassis: hv})
	}
	return a, o
}

// ChassisByName returns the hypervisor called name.
func (o *OVNAddrs) ChassisByName(name string) (OVNChassis, bool) {
	for _, c := range o.Chassis {
		if c.Name == name {
			return c, true
		}
	}
	return OVNChassis{}, false
}

// VM returns the VM whose role (= LSP) is role.
func (o *OVNAddrs) VM(role string) (OVNVM, bool) {
	for _, v := range o.VMs {
		if v.Role == role {
			return v, true
		}
	}
	return OVNVM{}, false
}
