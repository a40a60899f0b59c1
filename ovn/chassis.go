package ovn

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// Feature flags ovn-controller 23.03 advertises in Chassis.other_config
// (include/ovn/features.h, set in controller/chassis.c
// chassis_build_other_config). ovn-northd enables the matching logical
// flow features only when every chassis advertises them, so a gateway
// chassis that left one out would downgrade everyone's flows.
var features = []string{"port-up-notif", "ct-no-masked-label", "mac-binding-timestamp", "ovn-ct-lb-related"}

// identity is what this chassis registers.
type identity struct {
	name, hostname string
	encapIPs       []string // ovn.encap.ip: one Encap row each (chassis_build_encaps)
	csum           bool
	bridgeMappings map[string]string // network -> interface
}

// otherConfig is chassis_build_other_config of 23.03 over the row's
// current map: the keys ovn-controller always writes (those whose value
// comes from OVS settings xgw does not have are written empty, as
// ovn-controller writes them when unset), the feature flags, and every
// other key kept.
func (id identity) otherConfig(current map[string]string) map[string]string {
	m := maps.Clone(current)
	if m == nil {
		m = map[string]string{}
	}
	var bm []string
	for _, k := range slices.Sorted(maps.Keys(id.bridgeMappings)) {
		bm = append(bm, k+":"+id.bridgeMappings[k])
	}
	for k, v := range map[string]string{
		"ovn-bridge-mappings":      strings.Join(bm, ","),
		"datapath-type":            "",
		"ovn-cms-options":          "",
		"ovn-monitor-all":          "false",
		"iface-types":              "",
		"ovn-chassis-mac-mappings": "",
		"is-interconn":             "false",
	} {
		m[k] = v
	}
	for _, f := range features {
		m[f] = "true"
	}
	return m
}

// encapOptions are Encap.options as chassis_build_encaps writes them.
func (id identity) encapOptions() map[string]string {
	return map[string]string{"csum": fmt.Sprint(id.csum)}
}

// encapOK reports whether ch's encaps are exactly ours: one geneve encap
// per IP of ovn.encap.ip with our csum option (chassis_tunnels_changed).
func (id identity) encapOK(s *snapshot, ch *sbdb.Chassis) bool {
	if len(ch.Encaps) != len(id.encapIPs) {
		return false
	}
	seen := map[string]bool{}
	for _, u := range ch.Encaps {
		e := s.encaps[u]
		if e == nil || e.Type != sbdb.EncapTypeGeneve || !slices.Contains(id.encapIPs, e.IP) || seen[e.IP] ||
			e.ChassisName != id.name || !maps.Equal(e.Options, id.encapOptions()) {
			return false
		}
		seen[e.IP] = true
	}
	return true
}

// createEncaps adds one Encap row per encap IP (chassis_build_encaps: the
// product of types and IPs, here geneve only) and returns their named
// UUIDs.
func (id identity) createEncaps(c client.Client, add func([]ovsdb.Operation, error) error) ([]string, error) {
	var refs []string
	for i, ip := range id.encapIPs {
		enc := &sbdb.Encap{UUID: fmt.Sprintf("xgw_encap%d", i), Type: sbdb.EncapTypeGeneve, IP: ip, Options: id.encapOptions(), ChassisName: id.name}
		if err := add(c.Create(enc)); err != nil {
			return nil, err
		}
		refs = append(refs, enc.UUID)
	}
	return refs, nil
}

// registerOps returns the operations that make the Chassis, its Encap and
// the Chassis_Private row what chassis_run of ovn-controller 23.03 would
// make them; none when they already are.
func registerOps(c client.Client, s *snapshot, id identity) ([]ovsdb.Operation, error) {
	var ops []ovsdb.Operation
	add := func(o []ovsdb.Operation, err error) error {
		ops = append(ops, o...)
		return err
	}
	ch := s.chassisByName(id.name)
	chassisRef := ""
	if ch == nil {
		refs, err := id.createEncaps(c, add)
		if err != nil {
			return nil, err
		}
		row := &sbdb.Chassis{UUID: "xgw_chassis", Name: id.name, Hostname: id.hostname,
			Encaps: refs, OtherConfig: id.otherConfig(nil)}
		if err := add(c.Create(row)); err != nil {
			return nil, err
		}
		chassisRef = row.UUID
	} else {
		chassisRef = ch.UUID
		upd := &sbdb.Chassis{UUID: ch.UUID}
		var fields []any
		if ch.Hostname != id.hostname {
			upd.Hostname = id.hostname
			fields = append(fields, &upd.Hostname)
		}
		if oc := id.otherConfig(ch.OtherConfig); !maps.Equal(oc, ch.OtherConfig) {
			upd.OtherConfig = oc
			fields = append(fields, &upd.OtherConfig)
		}
		if !id.encapOK(s, ch) {
			refs, err := id.createEncaps(c, add)
			if err != nil {
				return nil, err
			}
			upd.Encaps = refs
			fields = append(fields, &upd.Encaps)
		}
		if len(fields) > 0 {
			if err := add(c.Where(upd).Update(upd, fields...)); err != nil {
				return nil, err
			}
		}
	}
	p := s.privateByName(id.name)
	switch {
	case p == nil:
		row := &sbdb.ChassisPrivate{UUID: "xgw_chassis_private", Name: id.name, Chassis: &chassisRef}
		if err := add(c.Create(row)); err != nil {
			return nil, err
		}
	case p.Chassis == nil || *p.Chassis != chassisRef:
		upd := &sbdb.ChassisPrivate{UUID: p.UUID, Chassis: &chassisRef}
		if err := add(c.Where(upd).Update(upd, &upd.Chassis)); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

// nbCfgOps reports nb_cfg in Chassis_Private as ovn-controller's
// store_nb_cfg does once its flows for that nb_cfg are installed: xgw
// calls it after the topology for that snapshot is applied.
func nbCfgOps(c client.Client, s *snapshot, name string, nowMS int64) ([]ovsdb.Operation, error) {
	p := s.privateByName(name)
	if p == nil || s.sbGlobal == nil || p.NbCfg == s.sbGlobal.NbCfg {
		return nil, nil
	}
	upd := &sbdb.ChassisPrivate{UUID: p.UUID, NbCfg: s.sbGlobal.NbCfg, NbCfgTimestamp: int(nowMS)}
	return c.Where(upd).Update(upd, &upd.NbCfg, &upd.NbCfgTimestamp)
}

// cleanupOps is what ovn-controller does on `ovn-appctl exit` without
// --restart (binding_cleanup, chassis_cleanup): release every port binding
// claimed by this chassis and delete its Chassis and Chassis_Private rows
// (the Encap rows go with the Chassis: they are not root rows).
func cleanupOps(c client.Client, s *snapshot, name string) ([]ovsdb.Operation, error) {
	var ops []ovsdb.Operation
	ch := s.chassisByName(name)
	if ch != nil {
		for _, pb := range s.bindings {
			if pb.Chassis != nil && *pb.Chassis == ch.UUID {
				o, err := releaseOps(c, pb)
				if err != nil {
					return nil, err
				}
				ops = append(ops, o...)
			}
		}
		o, err := c.Where(&sbdb.Chassis{UUID: ch.UUID}).Delete()
		if err != nil {
			return nil, err
		}
		ops = append(ops, o...)
	}
	if p := s.privateByName(name); p != nil {
		o, err := c.Where(&sbdb.ChassisPrivate{UUID: p.UUID}).Delete()
		if err != nil {
			return nil, err
		}
		ops = append(ops, o...)
	}
	return ops, nil
}
