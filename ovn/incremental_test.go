package ovn

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// TestIncrementalTranslation: after each change, given as the rows the
// caches' events name, a translation that reuses the unchanged routers'
// fragments equals a translation from scratch; and it rebuilt only the
// routers the change touched.
func TestIncrementalTranslation(t *testing.T) {
	s := scaleSnapshot(30, 300, 5)
	base := scaleBase(t)
	z, cache := newZones(), map[string]*cached{}
	translate(s, base, z, cache, nil)

	byName := func(name string) *nbdb.LogicalRouter {
		for _, r := range s.routers {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no router %s", name)
		return nil
	}
	sw := func(name string) *nbdb.LogicalSwitch {
		for _, x := range s.switches {
			if x.Name == name {
				return x
			}
		}
		t.Fatalf("no switch %s", name)
		return nil
	}
	pbOf := func(port string) *sbdb.PortBinding {
		for _, pb := range s.bindings {
			if pb.LogicalPort == port {
				return pb
			}
		}
		t.Fatalf("no binding %s", port)
		return nil
	}
	lspOf := func(name string) *nbdb.LogicalSwitchPort {
		for _, p := range s.lsps {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no switch port %s", name)
		return nil
	}
	chassisUUID := func(name string) string {
		for u, c := range s.chassis {
			if c.Name == name {
				return u
			}
		}
		t.Fatalf("no chassis %s", name)
		return ""
	}
	events := func(ms ...model.Model) *changes {
		ch := &changes{}
		for _, m := range ms {
			ch.add(m)
		}
		return ch
	}
	steps := []struct {
		name    string
		do      func() *changes
		rebuilt []string // gateway routers whose fragment is built again
	}{
		{"lr-nat-add", func() *changes {
			r := byName("gr5")
			n := &nbdb.NAT{UUID: "nat-new", Type: "dnat_and_snat", LogicalIP: "10.199.100.10", ExternalIP: "203.0.5.99"}
			s.nats[n.UUID] = n
			r.Nat = append(r.Nat, n.UUID)
			return events(n, r)
		}, []string{"gr5"}},
		{"lr-nat-del", func() *changes {
			r := byName("gr5")
			n := s.nats["nat-new"]
			delete(s.nats, n.UUID)
			r.Nat = slices.DeleteFunc(slices.Clone(r.Nat), func(u string) bool { return u == n.UUID })
			return events(n, r)
		}, []string{"gr5"}},
		{"VIF removed (NB)", func() *changes {
			w := sw("sw7")
			p := lspOf("vm7-3")
			w.Ports = slices.DeleteFunc(slices.Clone(w.Ports), func(u string) bool { return u == p.UUID })
			delete(s.lsps, p.UUID)
			return events(w, p)
		}, []string{"gr7"}},
		{"VIF removed (SB)", func() *changes {
			pb := pbOf("vm7-3")
			delete(s.bindings, pb.UUID)
			return events(pb)
		}, nil},
		{"VIF added (NB)", func() *changes {
			w := sw("sw9")
			p := &nbdb.LogicalSwitchPort{UUID: "lsp-new", Name: "vm9-new"}
			s.lsps[p.UUID] = p
			w.Ports = append(slices.Clone(w.Ports), p.UUID)
			return events(w, p)
		}, []string{"gr9"}},
		{"VIF added (SB, bound)", func() *changes {
			ch := chassisUUID("hv1")
			pb := &sbdb.PortBinding{UUID: "pb-new", LogicalPort: "vm9-new", TunnelKey: 99, MAC: []string{"02:00:09:09:09:09 10.199.100.200"}, Chassis: &ch}
			s.bindings[pb.UUID] = pb
			return events(pb)
		}, []string{"gr9"}},
		{"VIF moved", func() *changes {
			pb := pbOf("vm11-2")
			ch := chassisUUID("hv3")
			if *pb.Chassis == ch {
				ch = chassisUUID("hv4")
			}
			n := *pb
			n.Chassis = &ch
			s.bindings[pb.UUID] = &n
			return events(pb, &n)
		}, []string{"gr11"}},
		{"distributed router port changed", func() *changes {
			r := byName("dr13")
			for _, u := range r.Ports {
				if p := s.lrps[u]; p.Name == "dr13-sw" {
					n := *p
					n.MAC = "0a:00:00:99:99:99"
					s.lrps[u] = &n
					return events(p, &n)
				}
			}
			t.Fatal("no dr13-sw")
			return nil
		}, []string{"gr13"}},
		{"chassis added", func() *changes {
			e := &sbdb.Encap{UUID: "enc-new", Type: sbdb.EncapTypeGeneve, IP: "192.0.9.9", ChassisName: "hvnew"}
			c := &sbdb.Chassis{UUID: "ch-new", Name: "hvnew", Encaps: []string{e.UUID}}
			s.encaps[e.UUID], s.chassis[c.UUID] = e, c
			return events(e, c)
		}, nil}, // all: checked below by count
	}
	for _, st := range steps {
		ch := st.do()
		before := map[string]*cached{}
		for k, v := range cache {
			before[k] = &cached{deps: v.deps}
		}
		got, gtr := translate(s, base, z, cache, ch)
		want, wtr := translate(s, base, z, map[string]*cached{}, nil)
		if !reflect.DeepEqual(got.Routers, want.Routers) || !reflect.DeepEqual(got.Switches, want.Switches) ||
			!reflect.DeepEqual(got.Chassis, want.Chassis) || !reflect.DeepEqual(gtr.problems, wtr.problems) {
			t.Fatalf("%s: the incremental translation differs from a full one:\n got %v\nwant %v", st.name, diffTopo(got, want), gtr.problems)
		}
		var rebuilt []string
		for k, v := range cache {
			if b := before[k]; b == nil || b.deps != v.deps {
				rebuilt = append(rebuilt, k)
			}
		}
		slices.Sort(rebuilt)
		if st.name == "chassis added" {
			if len(rebuilt) != 30 {
				t.Errorf("%s: rebuilt %d routers, want all 30", st.name, len(rebuilt))
			}
			continue
		}
		if !slices.Equal(rebuilt, st.rebuilt) {
			t.Errorf("%s: rebuilt %v, want %v", st.name, rebuilt, st.rebuilt)
		}
	}
}

// diffTopo names the first router or switch that differs.
func diffTopo(a, b *config.Config) string {
	for i := range min(len(a.Routers), len(b.Routers)) {
		if !reflect.DeepEqual(a.Routers[i], b.Routers[i]) {
			return fmt.Sprintf("router %+v vs %+v", a.Routers[i], b.Routers[i])
		}
	}
	for i := range min(len(a.Switches), len(b.Switches)) {
		if !reflect.DeepEqual(a.Switches[i], b.Switches[i]) {
			return fmt.Sprintf("switch %+v vs %+v", a.Switches[i], b.Switches[i])
		}
	}
	return fmt.Sprintf("%d/%d routers, %d/%d switches", len(a.Routers), len(b.Routers), len(a.Switches), len(b.Switches))
}
