package datapath

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// seedWithMapping writes the seed config with the SNAT rule's mapping set
// to mode and returns its path.
func seedWithMapping(t testing.TB, mode string) string {
	t.Helper()
	b, err := os.ReadFile(seedtest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "mapping: endpoint-dependent", "mapping: "+mode, 1)
	if !strings.Contains(s, "mapping: "+mode) {
		t.Fatal("seed.yaml has no mapping key to replace")
	}
	p := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// snatPort sends UDP src:sport -> dst:9000 from the VM's chassis and
// returns the source port it left with.
func snatPort(t *testing.T, h *harness, src, dst net.IP, sport uint16) uint16 {
	t.Helper()
	f := egressFrom(t, src, dst, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: sport, DPort: 9000, Payload: []byte("eim")})
	p := h.run(flow.Underlay, f)
	if p.Verdict != VerdictTX || p.OutPort != flow.External {
		t.Fatalf("%v:%d -> %v: %v %v", src, sport, dst, p.Verdict, p.Reason)
	}
	fr := p.Frame()
	ihl := int(fr[packet.EthernetLen]&0x0f) * 4
	if got := packet.IP4(fr[packet.EthernetLen+12 : packet.EthernetLen+16]); got != packet.IP4(seedtest.SNAT.To4()) {
		t.Fatalf("left from %v", got)
	}
	return uint16(fr[packet.EthernetLen+ihl])<<8 | uint16(fr[packet.EthernetLen+ihl+1])
}

// Through the whole pipeline: a neighbour of the VM holds SNAT:5000
// toward peer 1, so the VM's 5000 is translated there. Toward peer 2 the
// port 5000 is free: endpoint-dependent mapping takes it (a new choice per
// destination), endpoint-independent mapping keeps the VM's mapping.
func TestPipelineEndpointIndependentMapping(t *testing.T) {
	peer1, peer2 := net.IP{172, 31, 6, 24}, net.IP{172, 31, 6, 25}
	squatter := net.IP{10, 199, 100, 11}
	for _, c := range []struct {
		mode string
		same bool
	}{{"endpoint-independent", true}, {"endpoint-dependent", false}} {
		t.Run(c.mode, func(t *testing.T) {
			h := newHarness(t, seedWithMapping(t, c.mode), conntrack.Config{Capacity: 1024})
			if p := snatPort(t, h, squatter, peer1, 5000); p != 5000 {
				t.Fatalf("squatter left with %d, want 5000", p)
			}
			p1 := snatPort(t, h, seedtest.VM, peer1, 5000)
			p2 := snatPort(t, h, seedtest.VM, peer2, 5000)
			if p1 == 5000 {
				t.Fatalf("VM took the squatter's port")
			}
			if (p1 == p2) != c.same {
				t.Errorf("VM left with %d toward peer 1 and %d toward peer 2; same port wanted: %v", p1, p2, c.same)
			}
			st := h.pl.Mappings().Stats()
			if c.same && (st.Live != 2 || st.Reused != 1) {
				t.Errorf("mapping stats %+v, want 2 live (squatter, VM), 1 reused", st)
			}
			// Expiry of the connections frees the mappings.
			h.ct.Expire(h.now + int64(10*time.Minute))
			if st := h.pl.Mappings().Stats(); st.Live != 0 {
				t.Errorf("%d mappings outlived their connections", st.Live)
			}
		})
	}
}

// Established connections of an endpoint-independent rule cost nothing
// extra: the mapping is only consulted when a connection is committed.
func TestEstablishedZeroAllocsEIM(t *testing.T) {
	h := newHarness(t, seedWithMapping(t, "endpoint-independent"), conntrack.Config{})
	fs := establishedFlows(t, h, 64)
	if st := h.pl.Mappings().Stats(); st.Live != 64 {
		t.Fatalf("%d mappings for 64 connections", st.Live)
	}
	start := 0
	allocs := testing.AllocsPerRun(200, func() {
		fs.fill(start)
		start += batchSize / 2
		h.w.Process(fs.batch)
	})
	for i, p := range fs.batch {
		if p.Verdict != VerdictTX {
			t.Fatalf("slot %d: %v %v", i, p.Verdict, p.Reason)
		}
	}
	if allocs != 0 {
		t.Fatalf("established pipeline allocates %v per batch", allocs)
	}
}
