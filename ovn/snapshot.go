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

func readNB(ctx context.Context, c client.Client, s *snapshot) error {
	var err error
	if s.routers, err = list(ctx, c, func(r *nbdb.LogicalRouter) string { return r.UUID }); err != nil {
		return fmt.Errorf("list logical routers: %w", err)
	}
	if s.lrps, err = list(ctx, c, func(r *nbdb.LogicalRouterPort) string { return r.UUID }); err != nil {
		return err
	}
	if s.switches, err = list(ctx, c, func(r *nbdb.LogicalSwitch) string { return r.UUID }); err != nil {
		return err
	}
	if s.lsps, err = list(ctx, c, func(r *nbdb.LogicalSwitchPort) string { return r.UUID }); err != nil {
		return err
	}
	if s.nats, err = list(ctx, c, func(r *nbdb.NAT) string { return r.UUID }); err != nil {
		return err
	}
	if s.routes, err = list(ctx, c, func(r *nbdb.LogicalRouterStaticRoute) string { return r.UUID }); err != nil {
		return err
	}
	s.nbPresent = true
	return nil
}

func readSB(ctx context.Context, c client.Client, s *snapshot) error {
	var err error
	if s.chassis, err = list(ctx, c, func(r *sbdb.Chassis) string { return r.UUID }); err != nil {
		return fmt.Errorf("list chassis: %w", err)
	}
	if s.private, err = list(ctx, c, func(r *sbdb.ChassisPrivate) string { return r.UUID }); err != nil {
		return err
	}
	if s.encaps, err = list(ctx, c, func(r *sbdb.Encap) string { return r.UUID }); err != nil {
		return err
	}
	if s.bindings, err = list(ctx, c, func(r *sbdb.PortBinding) string { return r.UUID }); err != nil {
		return err
	}
	if s.datapaths, err = list(ctx, c, func(r *sbdb.DatapathBinding) string { return r.UUID }); err != nil {
		return err
	}
	if s.haGroups, err = list(ctx, c, func(r *sbdb.HAChassisGroup) string { return r.UUID }); err != nil {
		return err
	}
	if s.haChassis, err = list(ctx, c, func(r *sbdb.HAChassis) string { return r.UUID }); err != nil {
		return err
	}
	if s.macs, err = list(ctx, c, func(r *sbdb.MACBinding) string { return r.UUID }); err != nil {
		return err
	}
	globals, err := list(ctx, c, func(r *sbdb.SBGlobal) string { return r.UUID })
	if err != nil {
		return err
	}
	for _, g := range globals {
		s.sbGlobal = g
	}
	s.sbPresent = true
	return nil
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
