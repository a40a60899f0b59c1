// Command xgw is the Geneve/SNAT gateway: `xgw run` runs it, the other
// subcommands inspect a running one through its control socket or check a
// configuration file. `xgw --help` and `xgw help COMMAND` explain each.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/control"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// exitError carries a specific exit code (check-config uses 1 for an
// invalid file, after printing the problems itself).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	os.Exit(execute(os.Args[1:]))
}

// execute runs the CLI and returns the exit code, so tests can drive it
// in-process.
func execute(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(root.ErrOrStderr(), ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(root.ErrOrStderr(), err)
	return 1
}

// globals are the flags every subcommand shares.
type globals struct {
	socket   string
	logLevel string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "xgw",
		Short: "Geneve/SNAT gateway for OVN-style clouds (AF_XDP + eBPF)",
		Long: `xgw is a standalone gateway for OVN-style overlays. It receives Geneve from
hypervisors on the underlay interface, runs the gateway router's pipeline
(decap, route, conntrack zones, SNAT/DNAT) and sends plain IPv4 out of the
external interface, and the reverse for replies. Packets reach it through
AF_XDP sockets fed by an XDP program; everything else on the interfaces
(ARP, SSH, BGP...) stays with the Linux stack.

Start the gateway with 'xgw run --config FILE'. The other commands talk to
the running gateway over its control socket (root only):

  xgw stats            counters: verdicts, drops by reason, ports, offload,
                       fast path, conntrack
  xgw dump-conntrack   connections, in ovs-appctl dpctl/dump-conntrack format
  xgw dump-flows       flows in software and offloaded to XDP, with counters
                       (ovs-appctl dpctl/dump-flows format)
  xgw reload           re-read the configuration file and apply it (as SIGHUP)

Two commands work without a running gateway:

  xgw check-config     validate a configuration file without running it
  xgw cleanup          remove the pinned fast path a stopped xgw left running

Counters are also served to Prometheus over HTTP (metrics.listen in the
file, 127.0.0.1:9477 by default: curl http://127.0.0.1:9477/metrics).

Logs go to stderr: text when stderr is a terminal, JSON lines otherwise
(under systemd they land in the journal: journalctl -u xgw). The schema of
the configuration file is in examples/seed.yaml, one comment per key;
'xgw help COMMAND' explains each command.`,
		Example: `  xgw check-config /etc/xgw/xgw.yaml
  xgw run --config /etc/xgw/xgw.yaml
  xgw stats
  xgw dump-conntrack --zone 16 -s
  xgw reload`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return setupLogging(g.logLevel)
		},
	}
	root.PersistentFlags().StringVar(&g.socket, "control-socket", control.DefaultSocket,
		"path of the control socket (xgw run listens on it, the other commands connect to it)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(newRunCmd(g), newCleanupCmd(g), newDumpConntrackCmd(g), newStatsCmd(g), newDumpFlowsCmd(g),
		newCheckConfigCmd(), newReloadCmd(g), newShowCmd(g), newVersionCmd())
	return root
}

// setupLogging installs the default slog logger: text for a person at a
// terminal, JSON for a journal or a log shipper.
func setupLogging(level string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("xgw: --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	out := os.Stderr
	if isTerminal(out.Fd()) {
		slog.SetDefault(slog.New(slog.NewTextHandler(out, opts)))
	} else {
		slog.SetDefault(slog.New(slog.NewJSONHandler(out, opts)))
	}
	return nil
}

func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// versionString is the build version plus the VCS revision when the
// binary was built from a checkout.
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print xgw's version",
		Long: `Print the version xgw was built as, the VCS revision when it was built from
a checkout, and the Go version. 'xgw --version' prints the same.`,
		Example: `  xgw version`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "xgw", versionString())
			return nil
		},
	}
}
