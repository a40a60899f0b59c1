package harness

import (
	"encoding/json"
	"testing"
)

// TestSampleCountsBothFamilies: the fast-path share and the table size of
// an xgw row count IPv6 too (udp-oneway6 read 0 % fast path and no table
// while IPv6 flows were offloaded).
func TestSampleCountsBothFamilies(t *testing.T) {
	var m map[string]any
	doc := `{"pipeline": {"egress": 10, "ingress": 2},
		"conntrack": {"Entries": 4}, "conntrack6": {"Entries": 6},
		"xdp": [{"stats": {"FastPath": {"HitEgress": {"Packets": 100}, "HitIngress": {"Packets": 20},
			"HitEgress6": {"Packets": 300}, "HitIngress6": {"Packets": 7}}}}]}`
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	s := sampleOf(m)
	if s.Fast != 427 || s.Software != 12 || s.TableEntries != 10 {
		t.Fatalf("sample %+v, want fast 427 (both families), software 12, table 10", s)
	}
}
