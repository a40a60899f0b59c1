package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xgw-dev/xgw/control"
)

// requestTimeout bounds one CLI request to the running gateway.
const requestTimeout = 30 * time.Second

func newDumpConntrackCmd(g *globals) *cobra.Command {
	var zone int
	var verbose bool
	cmd := &cobra.Command{
		Use:   "dump-conntrack",
		Short: "List tracked connections (ovs-appctl dpctl/dump-conntrack format)",
		Long: `Print the running gateway's connection table, one connection per line, in
the format of 'ovs-appctl dpctl/dump-conntrack', so that the output can be
compared with an OVS gateway's. IPv4 and IPv6 connections are listed
together, sorted by zone (IPv4 first within a zone), then by the original
tuple; IPv6 addresses are written as OVS writes them (src=fd00::5). Each gateway router has two zones (dnat and snat in the
configuration file); --zone selects one.

With -s each line also shows packet/byte counters per direction, the
seconds left before the entry expires and the TCP state.`,
		Example: `  xgw dump-conntrack
  xgw dump-conntrack --zone 16 -s
  xgw dump-conntrack --control-socket /tmp/xgw.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			out, err := control.NewClient(g.socket).Conntrack(ctx, zone, verbose)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().IntVar(&zone, "zone", -1, "only this conntrack zone (0-65535); default all zones")
	cmd.Flags().BoolVarP(&verbose, "statistics", "s", false, "show counters, timeout and TCP state")
	return cmd
}

func newDumpFlowsCmd(g *globals) *cobra.Command {
	var typ string
	cmd := &cobra.Command{
		Use:   "dump-flows",
		Short: "List connections as datapath flows, with counters",
		Long: `Print the gateway's flows in the shape of 'ovs-appctl dpctl/dump-flows -m':
match, packets, bytes, time since last use, where the flow runs and its
actions.

Offloaded connections show one line per direction with "offloaded:yes,
dp:xdp" and the fast path's own counters; every other tracked connection
shows as "offloaded:no, dp:software" with conntrack's counters. IPv4
flows come first, then IPv6 ones (eth_type(0x86dd),ipv6(...)).
--type filters them as 'dpctl/dump-flows type=...' does.`,
		Example: `  xgw dump-flows
  xgw dump-flows --type offloaded
  xgw dump-flows --type software | grep 'udp('`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			out, err := control.NewClient(g.socket).Flows(ctx, typ)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "only offloaded or only software flows")
	return cmd
}

func newStatsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the running gateway's counters",
		Long: `Print the running gateway's counters as tables:

  pipeline   verdicts (tx, drop, pass), drops by reason, rx/tx per side,
             forwarded packets and bytes per family (ipv4, ipv6)
  engine     what happened between the AF_XDP rings and the pipeline
  afxdp      per socket (interface, queue): frames and kernel drop counters
  xdp        per interface: what xdp_gw redirected to xgw or passed up;
             the fast path's hits and misses per family, punts
  conntrack  per family: live connections, capacity, created/expired, refusals
  neighbors  the kernel neighbour mirror: entries, misses, resolutions
  workers    per forwarding thread: CPU (busy) seconds; share of uptime
  config     the file, reloads applied and refused, draining NAT addresses

Only non-zero drop reasons are listed. --json prints the full document the
control socket serves (GET /stats), every counter included; the
Prometheus endpoint (metrics.listen) serves the same numbers.`,
		Example: `  xgw stats
  xgw stats --json | jq .pipeline.drops`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			c := control.NewClient(g.socket)
			if asJSON {
				out, err := c.StatsJSON(ctx)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			st, err := c.Stats(ctx)
			if err != nil {
				return err
			}
			return writeStats(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON document")
	return cmd
}

func newReloadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Re-read the running gateway's configuration file and apply it",
		Long: `Ask the running gateway to re-read the file it was started with (--config of
'xgw run') and apply it, exactly as SIGHUP does ('systemctl reload xgw'),
but wait for the outcome and print it.

Applied live (new connections use the new settings; existing connections,
including offloaded ones, keep forwarding with the translation they have):
chassis, switches, routers, routes, NAT rules, geneve.ttl, geneve.checksum.
A NAT address that the new file drops keeps being steered and routed for
the connections that still use it ("draining") and is retired when the
last of them ends; 'xgw stats' lists draining addresses.

The offload policy (offload.enabled, udp_oneway, udp_oneway_packets,
udp_oneway_ms) applies live too: offloaded flows go back to the software
path, which keeps forwarding them, and the new policy promotes them again.

Needs a restart (the reload reports them as "not applied until restart"):
interfaces, geneve.port, conntrack, control.socket, metrics.listen,
offload.flows, offload.pin_path, xdp.

A file that fails 'xgw check-config' is refused as a whole: nothing
changes, the problems are printed (each with its field path and line) and
logged, and the exit status is 1. Run 'xgw check-config FILE' first to see
them without touching the gateway.`,
		Example: `  xgw check-config /etc/xgw/xgw.yaml && xgw reload
  systemctl reload xgw        # the same, through systemd (SIGHUP)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			out, err := control.NewClient(g.socket).Reload(ctx)
			var re *control.ReloadError
			if errors.As(err, &re) {
				w := cmd.ErrOrStderr()
				fmt.Fprintln(w, "xgw: reload refused; the running configuration stays:")
				for _, line := range strings.Split(re.Problems, "\n") {
					fmt.Fprintf(w, "  %s\n", line)
				}
				return &exitError{code: 1}
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

func newShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show what this OVN gateway chassis serves",
		Long: `Print, in the spirit of 'ovn-sbctl show', what the running gateway serves in
OVN mode: the chassis and its database connections, the port bindings it
claimed, the peer chassis (VTEPs), each gateway router with its ports,
routes, NAT rules and conntrack zones, the distributed routers and switches
behind it, and every object it met and does not support (with the router
refused because of it).`,
		Example: `  xgw show`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			out, err := control.NewClient(g.socket).Show(ctx)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}
