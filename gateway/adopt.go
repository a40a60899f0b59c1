package gateway

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
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
	params := bpf.Params{VTEP: topo.VTEP.Addr(), VTEP6: vtep6Of(topo), GenevePort: topo.GenevePort}
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
	if err := syncSteering(objs, topo, g.log); err != nil {
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
		"pin_path", dir, "geneve_vtep", params.VTEP, "geneve_vtep6", params.VTEP6, "nat_addresses", len(natAddrs(topo)))
	return nil
}

// adoptedSteering is what syncSteering needs of an adopted program's
// maps: the steering, and what a previous xgw left in it.
type adoptedSteering interface {
	natSteering
	NATAddrs() ([]netip.Addr, error)
	RoutedPrefixes6() ([]netip.Prefix, error)
}

// syncSteering makes the pinned NAT address set (both families, with
// their flags) and routed IPv6 prefix set exactly topo's: a previous
// xgw's would otherwise still be steered to our sockets.
func syncSteering(objs adoptedSteering, topo *route.Topology, log *slog.Logger) error {
	refused, err := programSteering(objs, topo)
	if err != nil {
		return err
	}
	warnRefused(log, refused)
	keep := natAddrs(topo)
	have, err := objs.NATAddrs()
	if err != nil {
		return err
	}
	for _, a := range have {
		if !slices.Contains(keep, a) {
			if err := objs.RemoveNATAddr(a); err != nil {
				return err
			}
		}
	}
	steer, _ := routedPrefixes(topo)
	prefixes, err := objs.RoutedPrefixes6()
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		if !slices.Contains(steer, p) {
			if err := objs.RemoveRoutedPrefix6(p); err != nil {
				return err
			}
		}
	}
	return nil
}
