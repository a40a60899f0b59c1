package ovn

import (
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// changes is what changed in the databases since the last translation,
// as the caches' events said: the rows by UUID, and the Port_Bindings by
// logical_port. translate rebuilds only the fragments of the routers
// whose rows (or their switches') changed and keeps the others (the
// common change, one NAT rule or one VIF, rebuilds one router). all:
// something every fragment may depend on changed (a chassis or its
// encap, a datapath binding, an HA group, a resync, the file): rebuild
// every fragment. A nil *changes means all.
type changes struct {
	all   bool
	rows  map[string]bool // NB rows and SB rows, by UUID
	ports map[string]bool // Port_Binding.logical_port of changed bindings
}

// add records one event's row. Tables that every fragment may read set
// all; tables translation does not read are ignored.
func (c *changes) add(m model.Model) {
	var uuid string
	switch r := m.(type) {
	case *nbdb.LogicalRouter:
		uuid = r.UUID
	case *nbdb.LogicalRouterPort:
		uuid = r.UUID
	case *nbdb.LogicalSwitch:
		uuid = r.UUID
	case *nbdb.LogicalSwitchPort:
		uuid = r.UUID
	case *nbdb.NAT:
		uuid = r.UUID
	case *nbdb.LogicalRouterStaticRoute:
		uuid = r.UUID
	case *sbdb.PortBinding:
		if c.ports == nil {
			c.ports = map[string]bool{}
		}
		c.ports[r.LogicalPort] = true
		return
	case *sbdb.ChassisPrivate, *sbdb.MACBinding, *sbdb.SBGlobal:
		return
	default: // Chassis, Encap, Datapath_Binding, HA_Chassis(_Group)
		c.all = true
		return
	}
	if c.rows == nil {
		c.rows = map[string]bool{}
	}
	c.rows[uuid] = true
}

// merge adds o's changes to c.
func (c *changes) merge(o *changes) {
	if o == nil {
		c.all = true
		return
	}
	c.all = c.all || o.all
	for k := range o.rows {
		if c.rows == nil {
			c.rows = map[string]bool{}
		}
		c.rows[k] = true
	}
	for k := range o.ports {
		if c.ports == nil {
			c.ports = map[string]bool{}
		}
		c.ports[k] = true
	}
}

// deps are the routers and switches (NB UUIDs) one router's fragment was
// built from: a change to any of them, or to a row that belongs to one
// (a port, a NAT rule, a route, a binding), rebuilds it.
type deps struct {
	routers  map[string]bool
	switches map[string]bool
}

func (d *deps) router(uuid string) {
	if d == nil {
		return
	}
	if d.routers == nil {
		d.routers = map[string]bool{}
	}
	d.routers[uuid] = true
}

func (d *deps) switch_(uuid string) {
	if d == nil {
		return
	}
	if d.switches == nil {
		d.switches = map[string]bool{}
	}
	d.switches[uuid] = true
}

// dirty resolves c against the snapshot's index into the routers and
// switches it touches: a port, NAT rule or route counts as its router, a
// switch port as its switch, a binding as its port's switch or router. A
// row deleted from the snapshot changed its owner's row too (the owner's
// column that listed it), so the owner is dirty by its own event. nil:
// everything is dirty.
func (c *changes) dirty(x *index) *deps {
	if c == nil || c.all {
		return nil
	}
	d := &deps{routers: map[string]bool{}, switches: map[string]bool{}}
	s := x.s
	owner := map[string]string{} // NAT/route UUID -> router UUID, built on demand
	for u := range c.rows {
		switch {
		case s.routers[u] != nil:
			d.routers[u] = true
		case s.lrps[u] != nil:
			if r := x.routerOf[u]; r != nil {
				d.routers[r.UUID] = true
			}
		case s.switches[u] != nil:
			d.switches[u] = true
		case s.lsps[u] != nil:
			if sw := x.switchOf[u]; sw != nil {
				d.switches[sw.UUID] = true
			}
		case s.nats[u] != nil || s.routes[u] != nil:
			if len(owner) == 0 {
				for _, r := range s.routers {
					for _, n := range r.Nat {
						owner[n] = r.UUID
					}
					for _, rt := range r.StaticRoutes {
						owner[rt] = r.UUID
					}
				}
			}
			if r := owner[u]; r != "" {
				d.routers[r] = true
			}
		}
	}
	for name := range c.ports {
		if p := x.lspByName[name]; p != nil {
			if sw := x.switchOf[p.UUID]; sw != nil {
				d.switches[sw.UUID] = true
			}
			continue
		}
		lrp := x.lrpByName[name]
		if lrp == nil && len(name) > 3 && name[:3] == "cr-" {
			lrp = x.lrpByName[name[3:]]
		}
		if lrp != nil {
			if r := x.routerOf[lrp.UUID]; r != nil {
				d.routers[r.UUID] = true
			}
			continue
		}
		// A binding of a port the NB does not have (yet, or any more):
		// it changes no fragment until its port exists, and then the
		// port's switch changes too.
	}
	return d
}

// touches reports whether fragment deps f meet dirty set d (nil: all).
func (d *deps) touches(f *deps) bool {
	if d == nil || f == nil {
		return true
	}
	for u := range f.routers {
		if d.routers[u] {
			return true
		}
	}
	for u := range f.switches {
		if d.switches[u] {
			return true
		}
	}
	return false
}
