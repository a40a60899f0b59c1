package gateway

// The fast path's Geneve sources. The pipeline drops Geneve whose outer
// source is no chassis of its topology (geneve-unknown-source); the XDP
// fast path checks the same set, xgw_vteps, before it looks at a flow, and
// punts anything else to software. An empty set fails closed (no Geneve is
// fast-forwarded), so the set is filled before xdp_gw is attached (attach,
// adopt) and made the new topology's after every reload that swapped one in.
// Chassis with an IPv6 encap IP (Geneve over IPv6) are a second set,
// xgw_vteps6, kept the same way.

import (
	"fmt"

	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// vtepSetter is the fast path's set of Geneve sources; *bpf.FastPath is one.
type vtepSetter interface {
	SetVTEPs([]packet.IP4) error
	SetVTEPs6([]packet.IP6) error
}

// chassisVTEPs are topo's IPv4 chassis VTEPs, in config order.
func chassisVTEPs(topo *route.Topology) []packet.IP4 {
	ips := make([]packet.IP4, 0, len(topo.Chassis))
	for _, ch := range topo.Chassis {
		ips = append(ips, ch.IP)
	}
	return ips
}

// chassisVTEPs6 are topo's IPv6 chassis VTEPs, in config order.
func chassisVTEPs6(topo *route.Topology) []packet.IP6 {
	ips := make([]packet.IP6, 0, len(topo.Chassis6))
	for _, ch := range topo.Chassis6 {
		ips = append(ips, ch.IP6)
	}
	return ips
}

// setVTEPs makes s accept Geneve from exactly topo's chassis, over
// either underlay.
func setVTEPs(s vtepSetter, topo *route.Topology) error {
	if err := s.SetVTEPs(chassisVTEPs(topo)); err != nil {
		return fmt.Errorf("program the fast path's chassis VTEPs (%d chassis): %w", len(topo.Chassis), err)
	}
	if err := s.SetVTEPs6(chassisVTEPs6(topo)); err != nil {
		return fmt.Errorf("program the fast path's IPv6 chassis VTEPs (%d chassis): %w", len(topo.Chassis6), err)
	}
	return nil
}

// syncVTEPs follows a reload's topology swap. It runs after the swap, so
// for a moment the fast path still takes Geneve from a removed chassis
// and punts a new one's (software then accepts it); a failure leaves the
// old set and is reported, not fatal: the topology is already in place,
// and Geneve the set refuses is handled, correctly, by software.
func (r *reloader) syncVTEPs(topo *route.Topology) []string {
	if r.vteps == nil {
		return nil
	}
	if err := setVTEPs(r.vteps, topo); err != nil {
		r.log.Error("reload: the fast path keeps its previous chassis set", "err", err)
		return []string{"WARNING: " + err.Error() + "; Geneve from chassis outside the fast path's set is forwarded in software"}
	}
	return nil
}
