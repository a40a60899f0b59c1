package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/gateway"
)

func newCleanupCmd(g *globals) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove the fast path a stopped xgw left running",
		Long: `With offload.pin_path set (the default, /sys/fs/bpf/xgw), a stopped or
crashed xgw leaves its XDP program attached and its fast-path maps pinned,
so established connections keep flowing until the next xgw takes over.
cleanup is the full stop: it detaches the pinned XDP programs from the
configured interfaces and removes the pinned maps. Run it with xgw stopped.`,
		Example: `  xgw cleanup --config /etc/xgw/xgw.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			dir := gateway.PinPath(cfg.Offload)
			if dir == "" {
				fmt.Fprintln(cmd.OutOrStdout(), "offload.pin_path is none: nothing is pinned")
				return nil
			}
			return gateway.Cleanup(cmd.OutOrStdout(), dir, []string{cfg.Interfaces.Underlay.Name, cfg.Interfaces.External.Name})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the configuration xgw ran with")
	cmd.MarkFlagRequired("config")
	return cmd
}
