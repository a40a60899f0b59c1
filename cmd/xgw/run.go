package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/control"
)

func newRunCmd(g *globals) *cobra.Command {
	var cfgPath, mode string
	var queues int
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the gateway",
		Long: `Run the gateway described by the configuration file until SIGINT or SIGTERM.

xgw run, in order:
  1. loads and validates the file (see 'xgw check-config');
  2. builds the topology, the conntrack table and the pipeline;
  3. mirrors the kernel's neighbour table of the two interfaces (the kernel
     keeps doing ARP; xgw asks it to resolve next hops it misses);
  4. loads the XDP program xdp_gw on each interface: on the underlay it
     steers Geneve to the VTEP address, on the external side traffic to the
     NAT addresses, into AF_XDP sockets; everything else goes to Linux;
  5. opens one AF_XDP socket per RX queue and starts one forwarding thread
     per queue index;
  6. serves the control socket (root only) for stats, dump-conntrack and
     dump-flows.

On SIGINT/SIGTERM it closes the sockets, detaches XDP from the interfaces
and removes the control socket. Needs root (CAP_NET_ADMIN, CAP_BPF,
CAP_SYS_ADMIN for AF_XDP); run it in the network namespace that holds the
interfaces (e.g. under 'ip netns exec NS').`,
		Example: `  xgw run --config /etc/xgw/xgw.yaml
  ip netns exec gw xgw run --config lab.yaml --control-socket /run/xgw/lab.sock
  xgw run --config xgw.yaml --xdp-mode generic   # drivers without native XDP`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return errors.New("xgw run: --config FILE is required")
			}
			m, err := parseXDPMode(mode)
			if err != nil {
				return err
			}
			return run(cmd.Context(), cfgPath, g.socket, cmd.Flags().Changed("control-socket"),
				runOptions{xdpMode: m, queues: queues})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML; see examples/seed.yaml)")
	cmd.Flags().StringVar(&mode, "xdp-mode", "auto", "XDP attach mode: auto, native or generic")
	cmd.Flags().IntVar(&queues, "queues", 0, "RX queues to serve per interface (0: all active queues)")
	return cmd
}

func parseXDPMode(s string) (bpf.Mode, error) {
	switch s {
	case "auto":
		return bpf.ModeAuto, nil
	case "native":
		return bpf.ModeNative, nil
	case "generic":
		return bpf.ModeGeneric, nil
	}
	return 0, fmt.Errorf("xgw run: --xdp-mode %q: want auto, native or generic", s)
}

// run is `xgw run`. The socket flag wins over the file's control.socket
// only when it was given (socketSet).
func run(ctx context.Context, cfgPath, socket string, socketSet bool, opts runOptions) error {
	log := slog.Default()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("xgw run: load %s: %w", cfgPath, err)
	}
	if !socketSet && cfg.Control.Socket != "" {
		socket = cfg.Control.Socket
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	gw, err := newGateway(cfg, opts, log)
	if err != nil {
		return fmt.Errorf("xgw run: %w", err)
	}
	defer func() {
		if err := gw.close(); err != nil {
			log.Error("shutdown", "err", err)
		}
	}()
	srv, err := control.Listen(socket, gw, log)
	if err != nil {
		return fmt.Errorf("xgw run: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	log.Info("xgw running", "config", cfgPath, "control_socket", socket, "pid", os.Getpid())

	runErr := make(chan error, 1)
	go func() { runErr <- gw.run(ctx) }()
	select {
	case <-ctx.Done():
		err = <-runErr
	case err = <-runErr:
	case err = <-serveErr:
		stop()
		<-runErr
	}
	log.Info("xgw stopping")
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cerr := srv.Close(cctx); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("xgw run: %w", err)
	}
	return nil
}
