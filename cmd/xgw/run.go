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
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/gateway"
	"github.com/xgw-dev/xgw/metrics"
	"github.com/xgw-dev/xgw/ovn"
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
     NAT addresses, into AF_XDP sockets; everything else goes to Linux.
     With xdp.attach: adopt it attaches nothing and takes over the programs
     an operator attached with ip link (see bpf/README.md);
  5. opens one AF_XDP socket per RX queue and starts one forwarding thread
     per queue index; the offload manager moves established connections
     (and one-way UDP, by policy) into xdp_gw's fast path;
  6. serves the control socket (root only) for stats, dump-conntrack,
     dump-flows and reload, and Prometheus metrics over HTTP on
     metrics.listen (127.0.0.1:9477 unless the file says otherwise);
  7. under systemd (Type=notify) tells it when it is ready.

With an ovn: section in the file (OVN mode) step 2 is preceded by: connect
to the OVN NB and SB databases, register as a chassis (Chassis, Encap,
Chassis_Private, as ovn-controller does), claim the gateway routers bound
to this chassis and translate them into the topology; changes in the
databases then apply live through the reload path. The rows stay when
xgw stops (as with 'ovn-appctl exit --restart') unless
ovn.cleanup_on_exit is true. 'xgw show' prints what the chassis serves.

SIGHUP (or 'xgw reload', or 'systemctl reload xgw') re-reads the file:
routes, NAT rules and the rest of the topology apply to new connections
while existing ones keep forwarding; a bad file is refused and logged with
the field at fault, and the running configuration stays. See
'xgw help reload' for what applies live and what needs a restart.

On SIGINT/SIGTERM it closes the sockets and removes the control socket.
With offload.pin_path (default /sys/fs/bpf/xgw) the XDP programs stay
attached and keep forwarding offloaded connections until the next xgw takes
them over ('xgw cleanup' is the full stop); with pin_path: none, or in
adopt mode, nothing of xgw's stays attached. Needs root, or the capabilities of
dist/xgw.service (CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN,
CAP_NET_RAW, CAP_IPC_LOCK); run it in the network namespace that holds the
interfaces (e.g. under 'ip netns exec NS').

Logs are text on a terminal and JSON otherwise; --log-level debug shows
each step.`,
		Example: `  xgw run --config /etc/xgw/xgw.yaml
  ip netns exec gw xgw run --config lab.yaml --control-socket /run/xgw/lab.sock
  xgw run --config xgw.yaml --xdp-mode generic   # drivers without native XDP
  kill -HUP $(pidof xgw)                         # reload the file`,
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
				gateway.Options{XDPMode: m, Queues: queues, Version: version})
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
func run(ctx context.Context, cfgPath, socket string, socketSet bool, opts gateway.Options) error {
	log := slog.Default()
	// SIGHUP is taken from here on: its default action would kill us, and
	// one that arrives while the gateway starts waits for it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("xgw run: load %s: %w", cfgPath, err)
	}
	if !socketSet && cfg.Control.Socket != "" {
		socket = cfg.Control.Socket
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// OVN mode: the topology comes from the OVN databases (cmd/xgw/ovn.go).
	gwCfg := cfg
	var ovnCtl *ovn.Controller
	if cfg.OVN != nil {
		if ovnCtl, gwCfg, err = startOVN(ctx, cfg, log); err != nil {
			return fmt.Errorf("xgw run: %w", err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := ovnCtl.Close(cctx); err != nil {
				log.Error("OVN shutdown", "err", err)
			}
		}()
	}
	gw, err := gateway.New(cfgPath, gwCfg, opts, log)
	if err != nil {
		return fmt.Errorf("xgw run: %w", err)
	}
	defer func() {
		if err := gw.Close(); err != nil {
			log.Error("shutdown", "err", err)
		}
	}()
	if ovnCtl != nil {
		if err := wireOVN(ovnCtl, gw, log); err != nil {
			return fmt.Errorf("xgw run: %w", err)
		}
		go ovnCtl.Run(ctx)
	}
	srv, err := control.Listen(socket, gw, log)
	if err != nil {
		return fmt.Errorf("xgw run: %w", err)
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve() }()
	var msrv *metrics.Server
	if cfg.Metrics.Listen != config.MetricsOff {
		if msrv, err = metrics.Listen(cfg.Metrics.Listen, gw.Registry(), log); err != nil {
			srv.Close(context.Background())
			return fmt.Errorf("xgw run: %w (set metrics.listen, or \"off\")", err)
		}
		go func() { serveErr <- msrv.Serve() }()
	}
	log.Info("xgw running", "config", cfgPath, "control_socket", socket, "metrics", cfg.Metrics.Listen, "pid", os.Getpid())

	runErr := make(chan error, 1)
	go func() { runErr <- gw.Run(ctx) }()
	go reloadOnHUP(ctx, hup, gw)
	sdNotify("READY=1\nSTATUS=forwarding")
	select {
	case <-ctx.Done():
		err = <-runErr
	case err = <-runErr:
	case err = <-serveErr:
		stop()
		<-runErr
	}
	sdNotify("STOPPING=1")
	log.Info("xgw stopping")
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cerr := srv.Close(cctx); cerr != nil && err == nil {
		err = cerr
	}
	if msrv != nil {
		if cerr := msrv.Close(cctx); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("xgw run: %w", err)
	}
	return nil
}

// reloadOnHUP reloads the configuration on each SIGHUP until ctx ends. The
// reloader logs the outcome (what changed, or why the file was refused);
// systemd is told a reload is under way and when it is over.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, gw *gateway.Gateway) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			sdNotify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
			status := "forwarding; last reload applied"
			if _, err := gw.Reload(); err != nil {
				status = "forwarding; last reload REFUSED, see the log"
			}
			sdNotify("READY=1\nSTATUS=" + status)
		}
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which systemd wants
// with RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}
