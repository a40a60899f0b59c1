package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/gateway"
	"github.com/xgw-dev/xgw/route"
)

func newCheckConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE",
		Short: "Validate a configuration file and summarise it",
		Long: `Load FILE as 'xgw run' would (strict YAML: unknown keys are errors; defaults
applied; every cross-reference checked) and print a summary of the
interfaces, routers, conntrack zones and NAT rules it describes.

On a problem, every problem found is printed, one per line, with the path
of the field and its line in the file, and the exit status is 1. Nothing is
attached or changed on the machine; no root needed.

The schema is documented, key by key, in examples/seed.yaml.`,
		Example: `  xgw check-config /etc/xgw/xgw.yaml
  xgw check-config examples/seed.yaml && echo ok`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err == nil {
				_, err = route.Build(cfg)
			}
			if err != nil {
				w := cmd.ErrOrStderr()
				fmt.Fprintf(w, "xgw: %s: invalid configuration:\n", args[0])
				for _, line := range gateway.ProblemLines(err) {
					fmt.Fprintf(w, "  %s\n", line)
				}
				return &exitError{code: 1}
			}
			summarize(cmd.OutOrStdout(), args[0], cfg)
			return nil
		},
	}
}

func summarize(w io.Writer, path string, c *config.Config) {
	fmt.Fprintf(w, "%s: OK\n", path)
	fmt.Fprintf(w, "interfaces: underlay %s (VTEP %s), external %s\n",
		c.Interfaces.Underlay.Name, c.Interfaces.Underlay.VTEPIP, c.Interfaces.External.Name)
	fmt.Fprintf(w, "geneve: port %d, checksum %v, ttl %d\n", c.Geneve.Port, c.Geneve.ChecksumEnabled(), c.Geneve.TTL)
	capacity := "default"
	if c.Conntrack.Capacity > 0 {
		capacity = fmt.Sprint(c.Conntrack.Capacity)
	}
	fmt.Fprintf(w, "conntrack: capacity %s\n", capacity)
	if o := c.OVN; o != nil {
		fmt.Fprintf(w, "ovn: chassis %s, encap %s %s csum %v, bridge mappings %v\n", o.Chassis, o.Encap.Type, o.Encap.IP, o.Encap.CsumEnabled(), o.BridgeMappings)
		fmt.Fprintf(w, "ovn: sb %v, nb %v (not contacted by check-config)\n", o.SB, o.NB)
		fmt.Fprintf(w, "topology: read from the OVN databases at run time\n")
		fmt.Fprintf(w, "control socket: %s\n", c.Control.Socket)
		return
	}
	fmt.Fprintf(w, "chassis: %d, switches: %d, routers: %d\n", len(c.Chassis), len(c.Switches), len(c.Routers))
	for _, r := range c.Routers {
		if r.Distributed {
			fmt.Fprintf(w, "  router %s (distributed): %d ports, %d routes\n", r.Name, len(r.Ports), len(r.Routes))
			continue
		}
		fmt.Fprintf(w, "  router %s (gateway): zones dnat=%d snat=%d, %d ports, %d routes\n",
			r.Name, r.Zones.DNAT, r.Zones.SNAT, len(r.Ports), len(r.Routes))
		for _, n := range r.NAT {
			line := fmt.Sprintf("    nat %s %s -> %s", n.Type, n.LogicalIP, n.ExternalIP)
			if n.PortRange != "" {
				line += " ports " + string(n.PortRange)
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintf(w, "control socket: %s\n", c.Control.Socket)
}
