package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
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
			dir := pinPath(cfg.Offload)
			if dir == "" {
				fmt.Fprintln(cmd.OutOrStdout(), "offload.pin_path is none: nothing is pinned")
				return nil
			}
			return cleanup(cmd, dir, []string{cfg.Interfaces.Underlay.Name, cfg.Interfaces.External.Name})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the configuration xgw ran with")
	cmd.MarkFlagRequired("config")
	return cmd
}

// cleanup detaches the pinned links of ifaces and removes dir.
func cleanup(cmd *cobra.Command, dir string, ifaces []string) error {
	var errs []error
	seen := map[string]bool{}
	for _, name := range ifaces {
		if seen[name] {
			continue
		}
		seen[name] = true
		p := filepath.Join(dir, "link_"+name)
		l, err := bpf.OpenPinnedLink(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", p, err))
			continue
		}
		if err := l.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin %s: %w", p, err))
		}
		if err := l.Close(); err != nil { // the last reference: detaches
			errs = append(errs, fmt.Errorf("detach XDP from %s: %w", name, err))
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "detached XDP from %s\n", name)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", dir)
	}
	return errors.Join(errs...)
}
