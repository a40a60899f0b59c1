package harness

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/xgw-dev/xgw/bench/lab"
	"github.com/xgw-dev/xgw/packet"
)

// RealNICs describes a run on physical interfaces instead of the veth lab:
// the gateway's two NICs and, cabled to them, the generator's and the
// sink's (possibly in other namespaces, or on the same box in loopback).
// Addresses follow the lab's plan unless given; MACs are read from the
// interfaces. Socket scenarios (iperf3, TCP) need the lab's VM and are
// skipped.
type RealNICs struct {
	GWNetns, GenNetns, SinkNetns string // "" = root namespace
	Underlay, External           string // the gateway's interfaces
	GenIface, SinkIface          string // generator's and sink's interfaces
	VTEP, ChassisIP, ExtIP       netip.Addr
	SNATIP, VMIP                 netip.Addr
	UnderlayNet, ExternalNet     netip.Prefix // ExternalNet: the gateway's address on External
	WorkDir                      string
}

// Env resolves the interfaces and returns the environment.
func (r *RealNICs) Env(xgwBin string) (*Env, error) {
	mac := func(ns, ifc string) (packet.MAC, error) {
		var m packet.MAC
		err := lab.DoIn(ns, func() error {
			i, err := net.InterfaceByName(ifc)
			if err != nil {
				return err
			}
			copy(m[:], i.HardwareAddr)
			return nil
		})
		return m, err
	}
	ip := func(a netip.Addr) packet.IP4 { v, _ := packet.IP4From(a); return v }
	e := &Env{NS: map[string]string{RoleGW: r.GWNetns, RoleGen: r.GenNetns, RoleExt: r.SinkNetns, RoleVM: r.GenNetns},
		XGWBin: xgwBin, WorkDir: r.WorkDir}
	if e.WorkDir == "" {
		d, err := os.MkdirTemp("", "xgw-bench")
		if err != nil {
			return nil, err
		}
		e.WorkDir = d
	}
	var err error
	a := &e.A
	a.GenIface, a.Underlay, a.External, a.SinkIface = r.GenIface, r.Underlay, r.External, r.SinkIface
	for _, x := range []struct {
		ns, ifc string
		dst     *packet.MAC
	}{{r.GenNetns, r.GenIface, &a.GenMAC}, {r.GWNetns, r.Underlay, &a.UnderlayMC},
		{r.GWNetns, r.External, &a.ExternalMC}, {r.SinkNetns, r.SinkIface, &a.ExtMAC}} {
		if *x.dst, err = mac(x.ns, x.ifc); err != nil {
			return nil, fmt.Errorf("interface %s: %w", x.ifc, err)
		}
	}
	a.VTEP, a.ChassisIP, a.ExtIP = ip(r.VTEP), ip(r.ChassisIP), ip(r.ExtIP)
	a.SNATIP, a.VMIP = ip(r.SNATIP), ip(r.VMIP)
	a.UnderlayNP, a.ExternalIP = r.UnderlayNet, r.ExternalNet
	a.VMPrefix = netip.PrefixFrom(r.VMIP, 24).Masked()
	// The overlay MACs are the seed's (they only live inside Geneve).
	a.DRJoinMAC = packet.MustMAC("ae:03:03:17:eb:df")
	a.GRJoinMAC = packet.MustMAC("ae:cd:cd:04:d7:d4")
	a.VMGWMAC = packet.MustMAC("ae:95:95:65:27:a6")
	a.VMMAC = packet.MustMAC("00:00:19:91:00:10")
	return e, nil
}
