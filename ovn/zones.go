package ovn

import "github.com/xgw-dev/xgw/config"

// zones allocates each served gateway router its pair of conntrack zones
// (DNAT, SNAT), locally, as ovn-controller allocates ct zones per
// datapath. A router keeps its pair for as long as it stays bound to this
// chassis: its connections live in those zones. New routers take the
// lowest free numbers; routers first seen together (the initial sync) are
// allocated in name order, so the same databases give the same zones
// after a restart of xgw.
type zones struct {
	byRouter map[string]config.Zones
	used     map[uint16]bool
	free     int // no zone below it is free
}

func newZones() *zones {
	return &zones{byRouter: map[string]config.Zones{}, used: map[uint16]bool{}, free: 1}
}

// get returns router's pair, allocating one if it has none; ok is false
// when the 65535 zones are exhausted.
func (z *zones) get(router string) (config.Zones, bool) {
	if p, ok := z.byRouter[router]; ok {
		return p, true
	}
	var pair [2]uint16
	n := 0
	for zone := z.free; zone <= 65535 && n < 2; zone++ {
		if !z.used[uint16(zone)] {
			pair[n] = uint16(zone)
			n++
		}
	}
	if n < 2 {
		return config.Zones{}, false
	}
	p := config.Zones{DNAT: pair[0], SNAT: pair[1]}
	z.used[p.DNAT], z.used[p.SNAT] = true, true
	z.free = int(p.SNAT) + 1
	z.byRouter[router] = p
	return p, true
}

// keepOnly frees the pairs of routers not in keep.
func (z *zones) keepOnly(keep map[string]bool) {
	for r, p := range z.byRouter {
		if !keep[r] {
			delete(z.used, p.DNAT)
			delete(z.used, p.SNAT)
			z.free = min(z.free, int(p.DNAT))
			delete(z.byRouter, r)
		}
	}
}
