package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/conntrack"
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

// The tables show each family: forwarded packets and bytes, conntrack
// rows for the IPv4 and the IPv6 table, the fast path's IPv6 hits and
// misses, and xdp_gw's ND and routed-prefix redirects.
func TestStatsTableByFamily(t *testing.T) {
	var ds datapath.Stats
	ds.Forwarded[datapath.FamilyIPv6][datapath.DirEgress] = datapath.Count{Packets: 9, Bytes: 900}
	ds.Forwarded[datapath.FamilyIPv4][datapath.DirIngress] = datapath.Count{Packets: 4, Bytes: 400}
	var xs bpf.Stats
	xs.RedirectND.Packets = 5
	xs.RedirectRouted.Packets = 6
	xs.FastPath.HitEgress = bpf.Counter{Packets: 70}
	xs.FastPath.HitEgress6 = bpf.Counter{Packets: 71}
	xs.FastPath.HitIngress6 = bpf.Counter{Packets: 72}
	xs.FastPath.Miss6 = bpf.Counter{Packets: 73}
	s := &control.Stats{
		Pipeline:   control.PipelineStats(ds),
		Conntrack:  conntrack.Stats{Entries: 1, Capacity: 10},
		Conntrack6: conntrack.Stats{Entries: 2, Capacity: 20, Created: 3},
		XDP:        []control.XDP{{Interface: "eth1", Stats: xs}},
	}
	var b bytes.Buffer
	if err := writeStats(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, re := range []string{
		`(?m)^ipv4\s+0\s+0\s+4\s+400\s+0$`,            // forwarded
		`(?m)^ipv6\s+9\s+900\s+0\s+0\s+0$`,            // forwarded
		`(?m)^ipv6\s+2\s+20\s+3\s+0\s+0\s+0\s+0\s+0$`, // conntrack
		`(?m)^FAST PATH.*\n\s+70/71\s+0/72\s+0/73\s`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no %s in:\n%s", re, out)
		}
	}
	if !regexp.MustCompile(`(?m)^eth1\s+0\s+0\s+0\s+5\s+6\s`).MatchString(out) {
		t.Errorf("XDP row lacks the nd and routed6 redirects (5 and 6, 4th and 5th columns):\n%s", out)
	}
}
