package ovn

import (
	"context"
	"fmt"

	"github.com/ovn-kubernetes/libovsdb/client"

	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// snapshot is one consistent-enough read of both caches: every table the
// controller uses, indexed by UUID. Translation, claiming and registration
// are pure functions of a snapshot, which keeps them testable.
type snapshot struct {
	// NB
	routers   map[string]*nbdb.LogicalRouter
	lrps      map[string]*nbdb.LogicalRouterPort
	switches  map[string]*nbdb.LogicalSwitch
	lsps      map[string]*nbdb.LogicalSwitchPort
	nats      map[string]*nbdb.NAT
	routes    map[string]*nbdb.LogicalRouterStaticRoute
	nbPresent bool

	// SB
	chassis   map[string]*sbdb.Chassis
	private   map[string]*sbdb.ChassisPrivate
	encaps    map[string]*sbdb.Encap
	bindings  map[string]*sbdb.PortBinding
	datapaths map[string]*sbdb.DatapathBinding
	haGroups  map[string]*sbdb.HAChassisGroup
	haChassis map[string]*sbdb.HAChassis
	macs      map[string]*sbdb.MACBinding
	sbGlobal  *sbdb.SBGlobal
	sbPresent bool
}

// list reads one table of c's cache into a map by UUID.
func list[T any](ctx context.Context, c client.Client, uuid func(*T) string) (map[string]*T, error) {
	var rows []T
	if err := c.List(ctx, &rows); err != nil {
		return nil, err
	}
	m := make(map[string]*T, len(rows))
	for i := range rows {
		m[uuid(&rows[i])] = &rows[i]
	}
	return m, nil
}

// tableReader reads one monitored table into a snapshot, or keeps the
// previous snapshot's copy of it when the table did not change.
type tableReader struct {
	table string // OVSDB table name, as the cache's events name it
	read  func(context.Context, client.Client, *snapshot) error
	keep  func(dst, src *snapshot)
	// translated: translate reads the table. A pass where no such table
	// changed (only our own Chassis_Private nb_cfg, MAC_Binding or
	// SB_Global) keeps the last translation.
	translated bool
}

func reader[T any](table string, translated bool, uuid func(*T) string, field func(*snapshot) *map[string]*T) tableReader {
	return tableReader{table: table, translated: translated,
		read: func(ctx context.Context, c client.Client, s *snapshot) error {
			m, err := list(ctx, c, uuid)
			if err != nil {
				return fmt.Errorf("list %s: %w", table, err)
			}
			*field(s) = m
			return nil
		},
		keep: func(dst, src *snapshot) { *field(dst) = *field(src) }}
}

var (
	nbReaders = []tableReader{
		reader("Logical_Router", true, func(r *nbdb.LogicalRouter) string { return r.UUID }, func(s *snapshot) *map[string]*nbdb.LogicalRouter { return &s.routers }),
		reader("Logical_Router_Port", true, func(r *nbdb.LogicalRouterPort) string { return r.UUID }, func(s *snapshot) *map[string]*nbdb.LogicalRouterPort { return &s.lrps }),
		reader("Logical_Switch", true, func(r *nbdb.LogicalSwitch) string { return r.UUID }, func(s *snapshot) *map[string]*nbdb.LogicalSwitch { return &s.switches }),
		reader("Logical_Switch_Port", true, func(r *nbdb.LogicalSwitchPort) string { return r.UUID }, func(s *snapshot) *map[string]*nbdb.LogicalSwitchPort { return &s.lsps }),
		reader("NAT", true, func(r *nbdb.NAT) string { return r.UUID }, func(s *snapshot) *map[string]*nbdb.NAT { return &s.nats }),
		reader("Logical_Router_Static_Route", true, func(r *nbdb.LogicalRouterStaticRoute) string { return r.UUID }, func(s *snapshot) *map[string]*nbdb.LogicalRouterStaticRoute { return &s.routes }),
	}
	sbReaders = []tableReader{
		reader("Chassis", true, func(r *sbdb.Chassis) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.Chassis { return &s.chassis }),
		reader("Chassis_Private", false, func(r *sbdb.ChassisPrivate) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.ChassisPrivate { return &s.private }),
		reader("Encap", true, func(r *sbdb.Encap) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.Encap { return &s.encaps }),
		reader("Port_Binding", true, func(r *sbdb.PortBinding) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.PortBinding { return &s.bindings }),
		reader("Datapath_Binding", true, func(r *sbdb.DatapathBinding) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.DatapathBinding { return &s.datapaths }),
		reader("HA_Chassis_Group", true, func(r *sbdb.HAChassisGroup) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.HAChassisGroup { return &s.haGroups }),
		reader("HA_Chassis", true, func(r *sbdb.HAChassis) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.HAChassis { return &s.haChassis }),
		reader("MAC_Binding", false, func(r *sbdb.MACBinding) string { return r.UUID }, func(s *snapshot) *map[string]*sbdb.MACBinding { return &s.macs }),
		{table: "SB_Global", read: func(ctx context.Context, c client.Client, s *snapshot) error {
			globals, err := list(ctx, c, func(r *sbdb.SBGlobal) string { return r.UUID })
			if err != nil {
				return fmt.Errorf("list SB_Global: %w", err)
			}
			s.sbGlobal = nil
			for _, g := range globals {
				s.sbGlobal = g
			}
			return nil
		}, keep: func(dst, src *snapshot) { dst.sbGlobal = src.sbGlobal }},
	}
)

// readTables fills s from c's cache: the tables dirty says changed (all
// of them without prev) are listed again, the others are prev's. It
// reports whether a table that translate reads was listed.
func readTables(ctx context.Context, c client.Client, readers []tableReader, s, prev *snapshot, dirty func(table string) bool) (translated bool, err error) {
	for _, r := range readers {
		if prev != nil && !dirty(r.table) {
			r.keep(s, prev)
			continue
		}
		if err := r.read(ctx, c, s); err != nil {
			return false, err
		}
		translated = translated || r.translated
	}
	return translated, nil
}

func readSB(ctx context.Context, c client.Client, s *snapshot) error {
	_, err := readTables(ctx, c, sbReaders, s, nil, nil)
	s.sbPresent = err == nil
	return err
}

// chassisByName finds a Chassis row.
func (s *snapshot) chassisByName(name string) *sbdb.Chassis {
	for _, c := range s.chassis {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// privateByName finds a Chassis_Private row.
func (s *snapshot) privateByName(name string) *sbdb.ChassisPrivate {
	for _, c := range s.private {
		if c.Name == name {
			return c
		}
	}
	return nil
}
