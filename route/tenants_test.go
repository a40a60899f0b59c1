package route

import (
	"testing"

	"github.com/xgw-dev/xgw/nat"
)

// TestTwoTenants checks that two tenants with the same addresses resolve
// separately: by VNI on the way out, by SNAT address on the way back, and
// to different chassis, switches and zones.
func TestTwoTenants(t *testing.T) {
	topo := build(t, "two-tenants.yaml")
	type tenant struct {
		vni      uint32
		joinMAC  string
		snat     string
		gr       string
		zones    [2]uint16
		vmVNI    uint32
		chassis  string
		vmMAC    string
		portMin  uint16
		drInPort string
	}
	for _, tn := range []tenant{
		{1, "ae:cd:cd:04:d7:d4", "203.0.113.1", "gr-a", [2]uint16{6, 16}, 9, "172.31.1.21", "00:00:19:91:00:10", 1024, "dra-join"},
		{2, "ae:dd:dd:e4:9e:58", "203.0.113.2", "gr-b", [2]uint16{7, 17}, 10, "172.31.1.22", "00:00:19:92:00:10", 20000, "drb-join"},
	} {
		t.Run(tn.gr, func(t *testing.T) {
			rp, ok := topo.JoinPort(tn.vni, mac(tn.joinMAC))
			if !ok || rp.Router.Name != tn.gr {
				t.Fatalf("JoinPort(%d) = %v, %v", tn.vni, rp, ok)
			}
			gr := rp.Router
			if [2]uint16{gr.DNATZone, gr.SNATZone} != tn.zones {
				t.Errorf("zones = %d/%d", gr.DNATZone, gr.SNATZone)
			}
			if r, ok := topo.RouterByExternalIP(ip(tn.snat)); !ok || r != gr {
				t.Errorf("RouterByExternalIP(%s) = %v, %v", tn.snat, r, ok)
			}
			if rules := gr.NATRules(); rules[0].External != ip(tn.snat) || rules[0].PortMin != tn.portMin {
				t.Errorf("NATRules = %+v", rules)
			}
			d := deliver(t, topo, gr, ip("10.199.100.10"))
			if d.vni != tn.vmVNI || d.chassis != ip(tn.chassis) || d.dstMAC != mac(tn.vmMAC) || d.drInPort != tn.drInPort {
				t.Errorf("delivery = %+v", d)
			}
		})
	}
	// The other tenant's join MAC on this tenant's VNI is not ours.
	if _, ok := topo.JoinPort(1, mac("ae:dd:dd:e4:9e:58")); ok {
		t.Error("tenant b's join MAC matched on tenant a's VNI")
	}
	gb := router(t, topo, "gr-b")
	rules := gb.NATRules()
	if len(rules) != 2 || rules[1].Type != nat.KindDNATAndSNAT || rules[1].Logical.Bits() != 32 || rules[1].PortMin != 1 || rules[1].PortMax != 65535 {
		t.Errorf("gr-b NATRules = %+v", rules)
	}
	if r, ok := topo.RouterByExternalIP(ip("203.0.113.20")); !ok || r != gb {
		t.Errorf("RouterByExternalIP(203.0.113.20) = %v, %v", r, ok)
	}
	if len(topo.ExternalIPs()) != 5 {
		t.Errorf("ExternalIPs = %v", topo.ExternalIPs())
	}
}
