package ovn

import (
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
func translate(s *snapshot, base *config.Config, z *zones) (*config.Config, translation) {
	o := base.OVN
	x := newIndex(s, o.BridgeMappings)
	var tr translation
	chassis := x.chassisList(o.Chassis, string(base.Interfaces.Underlay.VTEPIP), &tr.problems)

	type served struct {
		name string
		frag *fragment
	}
	var ok []served
	keep := map[string]bool{}
	for _, r := range x.gatewayRouters(o.Chassis) {
		if r.Enabled != nil && !*r.Enabled {
			continue
		}
		if ps := x.unsupportedOnRouter(r); len(ps) > 0 {
			tr.problems = append(tr.problems, ps...)
			continue
		}
		keep[r.Name] = true
		zp, got := z.get(r.Name)
		if !got {
			tr.problems = append(tr.problems, Problem{Object: "router " + r.Name, Reason: "no free conntrack zones", Router: r.Name})
			continue
		}
		frag, notes, err := x.gatewayFragment(r, zp)
		tr.problems = append(tr.problems, notes...)
		if err != nil {
			tr.problems = append(tr.problems, Problem{Object: "router " + r.Name, Reason: err.Error(), Router: r.Name})
			continue
		}
		alone := compose(base, chassis, nil)
		merge(alone, frag)
		if err := alone.Validate(); err != nil {
			tr.problems = append(tr.problems, Problem{Object: "router " + r.Name, Reason: joinLines(err), Router: r.Name})
			continue
		}
		ok = append(ok, served{r.Name, frag})
	}
	z.keepOnly(keep)

	// The union: one validation when the routers agree (the usual case);
	// when two conflict (the same external IP, say), add them one by one
	// in name order and refuse those that do not fit.
	all := compose(base, chassis, nil)
	for _, sv := range ok {
		merge(all, sv.frag)
	}
	if all.Validate() == nil {
		for _, sv := range ok {
			tr.served = append(tr.served, sv.name)
		}
	} else {
		all = compose(base, chassis, nil)
		for _, sv := range ok {
			try := compose(base, chassis, all)
			merge(try, sv.frag)
			if err := try.Validate(); err != nil {
				tr.problems = append(tr.problems, Problem{Object: "router " + sv.name, Reason: "conflicts with another router served here: " + joinLines(err), Router: sv.name})
				continue
			}
			all = try
			tr.served = append(tr.served, sv.name)
		}
	}
	tr.topo = config.Config{Chassis: all.Chassis, Switches: all.Switches, Routers: all.Routers}
	slices.SortFunc(tr.problems, func(a, b Problem) int { return strings.Compare(a.String(), b.String()) })
	tr.problems = slices.Compact(tr.problems)
	return all, tr
}

// compose is base without its ovn: section, with chassis and the
// switches and routers of from (deep enough a copy that merging into the
// result does not touch from).
func compose(base *config.Config, chassis []config.Chassis, from *config.Config) *config.Config {
	c := *base
	c.OVN = nil
	c.Chassis = chassis
	c.Switches, c.Routers = nil, nil
	if from != nil {
		c.Routers = slices.Clone(from.Routers)
		for _, s := range from.Switches {
			s.Ports = slices.Clone(s.Ports)
			c.Switches = append(c.Switches, s)
		}
	}
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
