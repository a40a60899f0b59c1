package gateway

import (
	"io"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

// OVN mode (package ovn) drives the gateway through these hooks: the
// topology comes from the OVN databases, not from the file.

// ApplyConfig applies a configuration value (a translation of the OVN
// databases) through the reload path: same checks, same life of NAT
// addresses, serialised with SIGHUP reloads.
func (g *Gateway) ApplyConfig(cfg *config.Config) ([]string, error) {
	return g.reload.ApplyConfig(cfg)
}

// ApplyValidConfig is ApplyConfig for a cfg that has passed
// config.Validate as it is, as every translation of OVN mode's
// controller has: the reload path does not validate it again.
func (g *Gateway) ApplyValidConfig(cfg *config.Config) ([]string, error) {
	return g.reload.ApplyValidConfig(cfg)
}

// SetLoader replaces how a reload (SIGHUP, xgw reload) turns the file
// into a configuration: OVN mode adds the topology last read from the
// databases to the file's other sections.
func (g *Gateway) SetLoader(load func(path string) (*config.Config, error)) {
	g.reload.reloadMu.Lock()
	g.reload.load = load
	g.reload.reloadMu.Unlock()
}

// SetOVN attaches OVN mode's state: status feeds the "ovn" section of
// /stats, show writes `xgw show`.
func (g *Gateway) SetOVN(status func() any, show func(io.Writer) error) {
	g.ovnMu.Lock()
	g.ovnStatus, g.ovnShow = status, show
	g.ovnMu.Unlock()
}

// Show writes what the gateway serves (xgw show); only OVN mode has it.
func (g *Gateway) Show(w io.Writer) error {
	g.ovnMu.Lock()
	show := g.ovnShow
	g.ovnMu.Unlock()
	if show == nil {
		_, err := io.WriteString(w, "not in OVN mode: the topology is the configuration file's (xgw check-config FILE summarises it)\n")
		return err
	}
	return show(w)
}

func (g *Gateway) ovnState() any {
	g.ovnMu.Lock()
	st := g.ovnStatus
	g.ovnMu.Unlock()
	if st == nil {
		return nil
	}
	return st()
}

// Neighbors is the kernel's neighbour table as the gateway mirrors it
// (IP -> MAC, both interfaces): OVN mode records the external ones in
// MAC_Binding. Read-only.
func (g *Gateway) Neighbors() map[packet.IP4]packet.MAC { return g.neigh.Snapshot() }
