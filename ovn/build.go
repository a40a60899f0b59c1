package ovn

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/xgw-dev/xgw/config"
)

// translate turns a snapshot into the topology this chassis serves. base
// is the running file (interfaces, geneve, ...); the result is base
// without its ovn: section and with the chassis, switches and routers read
// from the databases, valid for route.Build. Each gateway router is
// checked on its own (unsupported features, then its fragment validated
// alone), so that one bad router is refused and the others served.
//
// ch is what changed since the translation cache holds (nil: anything,
// as after a resync or a new file): a router whose fragment's routers and
// switches ch does not touch keeps its cached fragment, notes and
// verdict without being built again.
func translate(s *snapshot, base *config.Config, z *zones, cache map[string]*cached, ch *changes) (*config.Config, translation) {
	o := base.OVN
	x := newIndex(s, o.BridgeMappings)
	dirty := ch.dirty(x)
	var tr translation
	ul := base.Interfaces.Underlay
	var vtep4, vtep6 netip.Addr
	if ul.VTEPIP != "" {
		vtep4 = ul.VTEPIP.Value().Addr()
	}
	if ul.VTEPIP6 != "" {
		vtep6 = ul.VTEPIP6.Value()
	}
	chassis := x.chassisList(o.Chassis, vtep4, vtep6, &tr.problems)

	type served struct {
		name string
		frag *fragment
	}
	var ok []served
	keep := map[string]bool{}
	// serve checks one router's fragment (from build) on its own and
	// queues it for the union.
	serve := func(name string, build func(config.Zones) (*fragment, []Problem, error)) {
		keep[name] = true
		zp, got := z.get(name)
		if !got {
			tr.problems = append(tr.problems, Problem{Object: "router " + name, Reason: "no free conntrack zones", Router: name})
			return
		}
		c := cache[name]
		var frag *fragment
		var notes []Problem
		var rec *deps
		if c != nil && c.zones == zp && !dirty.touches(c.deps) {
			frag, notes = c.frag, c.notes // nothing it was built from changed
		} else {
			x.rec = &deps{}
			f, n, err := build(zp)
			rec, x.rec = x.rec, nil
			if err != nil {
				// Not cached: what would make it buildable (a switch
				// port that appears, say) may be outside its deps.
				delete(cache, name)
				tr.problems = append(tr.problems, n...)
				tr.problems = append(tr.problems, Problem{Object: "router " + name, Reason: err.Error(), Router: name})
				return
			}
			frag, notes = f, n
		}
		tr.problems = append(tr.problems, notes...)
		// A router whose translation did not change since the last pass
		// (the usual case: one change touches one router) keeps its
		// verdict; only the others are validated on their own again.
		verdict := ""
		if c != nil && (c.frag == frag || reflect.DeepEqual(c.frag, frag)) && slices.Equal(c.chassis, chassis) {
			verdict = c.verdict
			if rec != nil {
				c.deps, c.notes, c.zones = rec, notes, zp
			}
		} else {
			u := newUnion()
			u.add(frag)
			if err := with(base, chassis, u).Validate(); err != nil {
				verdict = joinLines(err)
			}
			if cache != nil {
				cache[name] = &cached{frag: frag, chassis: chassis, verdict: verdict, deps: rec, notes: notes, zones: zp}
			}
		}
		if verdict != "" {
			tr.problems = append(tr.problems, Problem{Object: "router " + name, Reason: verdict, Router: name})
			return
		}
		ok = append(ok, served{name, frag})
	}
	for _, r := range x.gatewayRouters(o.Chassis) {
		if r.Enabled != nil && !*r.Enabled {
			continue
		}
		if ps := x.unsupportedOnRouter(r); len(ps) > 0 {
			tr.problems = append(tr.problems, ps...)
			continue
		}
		tr.problems = append(tr.problems, ignoredOnRouter(r)...)
		serve(r.Name, func(zp config.Zones) (*fragment, []Problem, error) { return x.gatewayFragment(r, zp) })
	}
	// Routers whose distributed gateway port is active here (OVN's
	// chassisredirect shape). One that is also the distributed router
	// behind a gateway router served here would be two routers of one
	// name: refused.
	behind := map[string]string{}
	for _, sv := range ok {
		for _, r := range sv.frag.routers[1:] {
			behind[r.Name] = sv.name
		}
	}
	tr.problems = append(tr.problems, x.sharedGateways(x.chassisUUID(o.Chassis))...)
	for _, d := range x.distributedGateways(x.chassisUUID(o.Chassis)) {
		r := d.router
		if r.Enabled != nil && !*r.Enabled {
			continue
		}
		if keep[r.Name] {
			tr.problems = append(tr.problems, Problem{Object: "distributed gateway port " + d.port.Name, Reason: "a second distributed gateway port of one router active here: not supported", Router: r.Name})
			continue
		}
		if gr := behind[r.Name]; gr != "" {
			tr.problems = append(tr.problems, Problem{Object: "distributed gateway port " + d.port.Name,
				Reason: "its router is also the distributed router behind gateway router " + gr + " served here: not supported", Router: r.Name})
			continue
		}
		if ps := x.unsupportedOnDGP(d); len(ps) > 0 {
			tr.problems = append(tr.problems, ps...)
			continue
		}
		tr.problems = append(tr.problems, ignoredOnRouter(r)...)
		serve(r.Name, func(zp config.Zones) (*fragment, []Problem, error) { return x.dgpFragment(d, zp) })
	}
	z.keepOnly(keep)
	for name := range cache {
		if !keep[name] {
			delete(cache, name)
		}
	}

	// The union: one validation when the routers agree (the usual case);
	// when two conflict (the same external IP, say), add them one by one
	// in name order and refuse those that do not fit.
	u := newUnion()
	for _, sv := range ok {
		u.add(sv.frag)
	}
	all := with(base, chassis, u)
	if all.Validate() == nil {
		for _, sv := range ok {
			tr.served = append(tr.served, sv.name)
		}
	} else {
		u = newUnion()
		for _, sv := range ok {
			try := u.clone()
			try.add(sv.frag)
			if err := with(base, chassis, try).Validate(); err != nil {
				tr.problems = append(tr.problems, Problem{Object: "router " + sv.name, Reason: "conflicts with another router served here: " + joinLines(err), Router: sv.name})
				continue
			}
			u = try
			tr.served = append(tr.served, sv.name)
		}
		all = with(base, chassis, u)
		// What is handed over has passed Validate (the gateway does not
		// validate it again): with no router served, u was never
		// validated with the chassis list.
		if len(tr.served) == 0 {
			if err := all.Validate(); err != nil {
				tr.problems = append(tr.problems, Problem{Object: "chassis list", Reason: "does not validate: " + joinLines(err) + ": no chassis served"})
				all = with(base, nil, newUnion())
			}
		}
	}
	tr.topo = config.Config{Chassis: all.Chassis, Switches: all.Switches, Routers: all.Routers}
	slices.SortFunc(tr.problems, func(a, b Problem) int { return strings.Compare(a.String(), b.String()) })
	tr.problems = slices.Compact(tr.problems)
	return all, tr
}

// cached is one gateway router's last translation and its verdict
// ("" = valid on its own).
type cached struct {
	frag    *fragment
	chassis []config.Chassis
	verdict string
	// deps, notes and zones: what the fragment was built from, the notes
	// the build made, and the zones it got; a pass that changes none of
	// deps (and keeps the zones) reuses frag and notes unbuilt.
	deps  *deps
	notes []Problem
	zones config.Zones
}

// with is base without its ovn: section, with chassis and u's switches
// and routers.
func with(base *config.Config, chassis []config.Chassis, u *union) *config.Config {
	c := *base
	c.OVN = nil
	c.Chassis = chassis
	c.Switches, c.Routers = u.switches, u.routers
	return &c
}

// compose is base without its ovn: section and without a topology.
func compose(base *config.Config) *config.Config {
	c := *base
	c.OVN = nil
	c.Chassis, c.Switches, c.Routers = nil, nil, nil
	return &c
}

// joinLines flattens a joined validation error onto one line.
func joinLines(err error) string {
	var lines []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines = append(lines, e.Error())
		}
	} else {
		lines = append(lines, err.Error())
	}
	return strings.Join(lines, "; ")
}
