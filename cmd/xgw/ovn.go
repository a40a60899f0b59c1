package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/gateway"
	"github.com/xgw-dev/xgw/ovn"
)

// startOVN connects to the OVN databases of cfg's ovn: section, registers
// the chassis and returns the controller and the first translated
// configuration to build the gateway from.
func startOVN(ctx context.Context, cfg *config.Config, log *slog.Logger) (*ovn.Controller, *config.Config, error) {
	ctl, err := ovn.New(ovn.Options{Config: cfg, Log: log})
	if err != nil {
		return nil, nil, err
	}
	first, err := ctl.Start(ctx)
	if err != nil {
		ctl.Close(context.Background())
		return nil, nil, err
	}
	st := ctl.Status()
	log.Info("OVN mode: chassis registered", "chassis", st.Chassis, "routers", st.Served, "claimed", st.Claimed, "unsupported", len(st.Problems))
	return ctl, first, nil
}

// wireOVN connects a running gateway and the controller: database changes
// apply through the gateway's reload path, reloads re-read the file with
// the databases' topology, and stats, show and metrics include OVN's
// state. Call ctl.Run afterwards.
func wireOVN(ctl *ovn.Controller, gw *gateway.Gateway, log *slog.Logger) error {
	gw.SetLoader(func(path string) (*config.Config, error) {
		f, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		return ctl.Compose(f)
	})
	gw.SetOVN(func() any { return ctl.Status() }, func(w io.Writer) error { return ctl.Status().WriteShow(w) })
	if err := gw.Registry().Register(ctl.Collector()); err != nil {
		return fmt.Errorf("register the OVN metrics: %w", err)
	}
	ctl.SetNeighbors(gw.Neighbors)
	ctl.SetApply(func(c *config.Config) error {
		summary, err := gw.ApplyValidConfig(c) // translations are validated
		if err == nil {
			log.Info("OVN: changes applied", "changes", summary)
		}
		return err
	})
	return nil
}
