package ovn

import (
	"testing"

	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/route"
)

// BenchmarkScaleOneChange is one live change at the scale (1,000
// gateway routers, 20,000 VIFs, 50 chassis), in memory: a NAT rule added
// to (or removed from) one router, then the pass the controller and the
// gateway run for it: translate (with the per-router cache warm),
// compare with the running topology, route.BuildValid (the translation
// is validated).
func BenchmarkScaleOneChange(b *testing.B) {
	s := scaleSnapshot(1000, 20000, 50)
	base := scaleBase(b)
	z, cache := newZones(), map[string]*cached{}
	prev, _ := translate(s, base, z, cache, nil)
	var gr *nbdb.LogicalRouter
	for _, r := range s.routers {
		if r.Name == "gr500" {
			gr = r
		}
	}
	nat := &nbdb.NAT{UUID: "newnat", Type: "dnat_and_snat", LogicalIP: "10.199.100.10", ExternalIP: "203.1.244.20"}
	s.nats[nat.UUID] = nat
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			gr.Nat = append(gr.Nat, nat.UUID)
		} else {
			gr.Nat = gr.Nat[:len(gr.Nat)-1]
		}
		// What the caches' events name: the NAT row and its router.
		cfg, tr := translate(s, base, z, cache, &changes{rows: map[string]bool{nat.UUID: true, gr.UUID: true}})
		if len(tr.served) != 1000 || hasNAT(cfg, "gr500", "203.1.244.20") != (i%2 == 0) {
			b.Fatalf("served %d, problems %v", len(tr.served), tr.problems)
		}
		if sameTopology(prev, cfg) {
			b.Fatal("no change seen")
		}
		route.BuildValid(cfg) // as gateway.ApplyValidConfig does

		prev = cfg
	}
}
