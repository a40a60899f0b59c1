package harness

import (
	"fmt"
	"sort"
	"strings"
)

// System is a gateway under test. Start brings it up in ns gw, ready to
// forward; Stop removes every trace of it so that the next system starts
// from the same lab.
type System interface {
	Name() string
	// Geneve says whether it takes Geneve from the chassis (all but the
	// Linux peer, which this kernel cannot decapsulate for).
	Geneve() bool
	// Supports says whether a scenario applies, and why not.
	Supports(scenario string) (bool, string)
	Start(e *Env) error
	Stop() error
	// PIDs are the gateway's processes, for CPU accounting.
	PIDs() []int
	// Sample reads the gateway's own counters: connection-table entries and
	// packets its software path forwarded (both -1 when unknown).
	Sample() Sample
	// Notes are caveats about this system's run (e.g. a fallback taken).
	Notes() []string
}

// Sample is a reading of a gateway's counters.
type Sample struct {
	TableEntries float64
	Software     float64 // packets forwarded by the software path, both directions
	Fast         float64 // packets the gateway's own counters say its fast path forwarded (-1: none)
	Raw          map[string]any
}

func unknownSample() Sample { return Sample{TableEntries: -1, Software: -1, Fast: -1} }

// Options shared by the systems.
type SystemOptions struct {
	// GatewayCPU pins the gateway's processes to this CPU (-1: no pinning).
	GatewayCPU int
	// OffloadUDPPackets / OffloadUDPMS go to xgw's offload section
	// (0 = the offload manager's default).
	OffloadUDPPackets, OffloadUDPMS int
	// XGWConfig is the xgw config to start from on real NICs (in the lab
	// the lab writes it).
	XGWConfig string
}

// Factories of the systems, by name.
var systems = map[string]func(SystemOptions) System{
	"xgw-sw":      func(o SystemOptions) System { return &xgwSystem{opts: o, offload: false} },
	"xgw-offload": func(o SystemOptions) System { return &xgwSystem{opts: o, offload: true} },
	// Offload on, but one-way UDP never promoted (offload.udp_oneway:
	// false): what OVS/act_ct do with a flow that is never answered.
	"xgw-offload-oneway-off": func(o SystemOptions) System { return &xgwSystem{opts: o, offload: true, onewayOff: true} },
	"ovs-afxdp":              func(o SystemOptions) System { return &ovsSystem{opts: o} },
	"linux":                  func(o SystemOptions) System { return &linuxSystem{opts: o} },
	"xdp-ceiling":            func(o SystemOptions) System { return &ceilingSystem{} },
}

// SystemNames is every system in the order a full run uses.
var SystemNames = []string{"xgw-sw", "xgw-offload", "xgw-offload-oneway-off", "ovs-afxdp", "linux", "xdp-ceiling"}

// NewSystem returns the named system.
func NewSystem(name string, o SystemOptions) (System, error) {
	f, ok := systems[name]
	if !ok {
		var names []string
		for n := range systems {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown system %q (have %s)", name, strings.Join(names, ", "))
	}
	return f(o), nil
}

// tasksetArgs prefixes a command with taskset when pinning.
func tasksetArgs(cpu int, args ...string) []string {
	if cpu < 0 {
		return args
	}
	return append([]string{"taskset", "-c", fmt.Sprint(cpu)}, args...)
}
