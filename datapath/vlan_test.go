package datapath

import (
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// tag inserts an 802.1Q tag (VLAN 100) after the MAC addresses of f.
func tag(f []byte) []byte {
	return append(append(append([]byte{}, f[:12]...), 0x81, 0x00, 0x00, 0x64), f[12:]...)
}

// TestVLANTagDropped: issue 10 bug 3: both interfaces and the router
// ports are untagged, so an 802.1Q tag anywhere (on the outer Geneve
// frame, on the inner frame, on an external frame to a NAT address) is
// dropped and counted as vlan-tagged, by the pipeline and by the flow
// cache once the flow is in it, while the same frames untagged forward.
func TestVLANTagDropped(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	eg := seedtest.Egress(t, udpProbe)
	innerTagged := func() []byte {
		in := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, udpProbe)
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, tag(in))
	}
	reply := seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 40000, Payload: []byte("a")})
	check := func(stage string) {
		t.Helper()
		for _, c := range []struct {
			name  string
			in    flow.Port
			frame []byte
		}{
			{"outer tag", flow.Underlay, tag(eg)},
			{"inner tag", flow.Underlay, innerTagged()},
			{"external tag", flow.External, tag(reply)},
		} {
			before := h.pl.Stats().Drops[DropVLAN]
			r := h.run(c.in, c.frame)
			if r.Verdict != VerdictDrop || r.Reason != DropVLAN {
				t.Fatalf("%s, %s: verdict %v reason %v, want drop vlan-tagged", stage, c.name, r.Verdict, r.Reason)
			}
			if after := h.pl.Stats().Drops[DropVLAN]; after != before+1 {
				t.Fatalf("%s, %s: vlan-tagged drops %d -> %d", stage, c.name, before, after)
			}
		}
	}
	check("new flow")
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	cacheProbe(t, h, eg)
	hits := h.pl.Stats().CacheHits
	check("cached flow")
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	if h.pl.Stats().CacheHits != hits+1 {
		t.Fatal("the untagged frame no longer hits the cache")
	}
	if DropVLAN.String() != "vlan-tagged" {
		t.Fatalf("name %q", DropVLAN)
	}
}
