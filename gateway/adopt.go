package gateway

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/route"
)

// Adopt mode (xdp.attach: adopt): an operator attached gw_bpfel.o to the
// interfaces with its maps pinned by name in one directory (ip link on
// both interfaces shares them). xgw loads and attaches nothing: it opens
// those maps, checks that the programs on the interfaces use them, fills
// xgw_config and the NAT addresses, puts its sockets in the shared
// xgw_xsks (slot 0 underlay, 1 a separate external interface) and runs the
// fast path in the pinned xgw_flows. On exit it detaches nothing; closing
// the sockets takes them out of xgw_xsks, and offloaded flows keep being
// forwarded, as after a pinned restart (bpf/README.md).

// register puts a socket of x's interface in its xgw_xsks slot.
func (x *xdpIface) register(queue, fd int) error {
	return x.objs.RegisterXSKSlot(x.slot, queue, fd)
}

// adopt fills byName with the operator's xdp_gw for under and ext.
func (g *Gateway) adopt(byName map[string]*xdpIface, dir string, topo *route.Topology, under, ext string) error {
	objs, err := bpf.Open(dir)
	if err != nil {
		return fmt.Errorf("adopt the operator's XDP program (xdp.pin_path %s): %w", dir, err)
	}
	names := []string{under}
	if ext != under {
		names = append(names, ext)
	}
	// One entry: the interfaces share every map, stats included.
	g.xdp = append(g.xdp, &xdpIface{name: strings.Join(names, ","), objs: objs, nat: true, adopted: true})
	params := bpf.Params{VTEP: topo.VTEP.Addr(), GenevePort: topo.GenevePort}
	for slot, name := range names {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		x := l.Attrs().Xdp
		if x == nil || !x.Attached {
			return fmt.Errorf("adopt: no XDP program on %s: attach gw_bpfel.o first (ip link set dev %s xdp object gw_bpfel.o section xdp; bpf/README.md)", name, name)
		}
		if err := objs.CheckProgram(ebpf.ProgramID(x.ProgId)); err != nil {
			return fmt.Errorf("adopt: XDP on %s: %w (were its maps pinned in %s?)", name, err, dir)
		}
		if slot == 1 {
			params.ExternalIfindex = l.Attrs().Index
		}
		byName[name] = &xdpIface{name: name, objs: objs, nat: true, slot: slot, adopted: true}
		g.log.Info("XDP adopted", "interface", name, "program_id", x.ProgId, "xsk_slot", slot)
	}
	if err := syncNATAddrs(objs, topo); err != nil {
		return err
	}
	// Before SetParams turns Geneve steering on (vteps.go).
	if err := setVTEPs(objs.FastPath(), topo); err != nil {
		return err
	}
	if err := objs.SetParams(params); err != nil {
		return err
	}
	g.log.Info("adopt mode: steering programmed in the operator's maps; xgw detaches nothing on exit",
		"pin_path", dir, "geneve_vtep", params.VTEP, "nat_addresses", len(topo.NATIPs()))
	return nil
}

// syncNATAddrs makes the pinned NAT address set exactly topo's, with
// their flags: a previous xgw's addresses would otherwise still be
// steered to our sockets.
func syncNATAddrs(objs *bpf.Objects, topo *route.Topology) error {
	keep := map[netip.Addr]bool{}
	for _, ip := range topo.NATIPs() {
		keep[ip.Addr()] = true
		if err := natSteerOf(topo, ip).program(objs, ip); err != nil {
			return err
		}
	}
	have, err := objs.NATAddrs()
	if err != nil {
		return err
	}
	for _, a := range have {
		if !keep[a] {
			if err := objs.RemoveNATAddr(a); err != nil {
				return err
			}
		}
	}
	return nil
}
