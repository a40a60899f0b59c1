package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/nat"
)

// The text table shows what the JSON has for held packets and NAT
// mappings: an operator reading `xgw stats` must not need --json to see
// that packets wait for a neighbour or that EIM mappings are full.
func TestStatsTableHoldAndMappings(t *testing.T) {
	var ds datapath.Stats
	ds.Verdicts[datapath.VerdictHeld] = 7
	ds.HoldSent = 5
	s := &control.Stats{
		Pipeline:    control.PipelineStats(ds),
		NATMappings: nat.MappingStats{Capacity: 1024, Live: 3, Created: 4, Reused: 9, Released: 1, Full: 2, Conflicts: 6},
	}
	var b bytes.Buffer
	if err := writeStats(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	row := func(header string) []string {
		lines := strings.Split(out, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, header) && i+1 < len(lines) {
				return strings.Fields(lines[i+1])
			}
		}
		t.Fatalf("no %q section in:\n%s", header, out)
		return nil
	}
	if got := row("PIPELINE"); len(got) < 10 || got[3] != "7" || got[len(got)-1] != "5" {
		t.Errorf("pipeline row %q: want held 7 (4th) and held then sent 5 (last)", got)
	}
	if got, want := strings.Join(row("NAT MAPPINGS"), " "), "3 1024 4 9 1 2 6"; got != want {
		t.Errorf("NAT mappings row %q, want %q", got, want)
	}

	// No EIM in use: no section.
	s.NATMappings = nat.MappingStats{Capacity: 1024}
	b.Reset()
	if err := writeStats(&b, s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NAT MAPPINGS") {
		t.Errorf("NAT MAPPINGS shown without mappings:\n%s", b.String())
	}
}
