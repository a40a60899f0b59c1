package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/ovn"
)

// TestOVNStatsTable: the ovn section of /stats, as the client decodes it
// (generic JSON), is rendered with the connection state of both databases.
func TestOVNStatsTable(t *testing.T) {
	b, _ := json.Marshal(ovn.Status{Chassis: "gateway01", Connected: map[string]bool{"nb": true, "sb": false},
		Disconnects: map[string]uint64{"sb": 2}, Served: []string{"gr1"}, Claimed: []string{"a", "b"}})
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeOVNStats(&out, generic)
	for _, want := range []string{"gateway01", "connected", "DISCONNECTED", "0/2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
