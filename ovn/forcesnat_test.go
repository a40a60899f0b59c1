package ovn

import (
	"strings"
	"testing"
	"time"
)

// TestLBForceSNATIP: options:lb_force_snat_ip (ovn-kubernetes sets it)
// SNATs only traffic the router's own load balancers DNATed. On a
// gateway router without load balancers it changes nothing xgw sees: the
// router is served and the option noted as ignored. With a load balancer
// the router is refused, the option's reason saying why; and
// dnat_force_snat_ip, which SNATs DNATed traffic xgw does forward, still
// refuses the router.
func TestLBForceSNATIP(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	e.nbctl("set", "logical_router", "gr1", "options:lb_force_snat_ip=router_ip")
	e.sync()
	ctl, first, applied := startController(t, e.gwConfig(t, "gateway01"))
	if findRouter(first, "gr1") == nil {
		t.Fatalf("gr1 with lb_force_snat_ip and no load balancer is not served: %v", ctl.Status().Problems)
	}
	hasProblem := func(obj, reason, router string) (bool, string) {
		var all []string
		for _, p := range ctl.Status().Problems {
			all = append(all, p.String())
			if strings.Contains(p.Object, obj) && strings.Contains(p.Reason, reason) && p.Router == router {
				return true, ""
			}
		}
		return false, strings.Join(all, "\n")
	}
	waitFor(t, 3*time.Second, "lb_force_snat_ip noted as ignored", func() (bool, string) {
		return hasProblem("options:lb_force_snat_ip", "ignored", "")
	})

	e.nbctl("lb-add", "lb1", "203.0.113.50:80", "10.199.100.10:8080", "tcp")
	e.nbctl("lr-lb-add", "gr1", "lb1")
	nextWith(t, applied, "gr1", false, func() string { return "" })
	waitFor(t, 3*time.Second, "lb_force_snat_ip refusing gr1 with a load balancer", func() (bool, string) {
		return hasProblem("options:lb_force_snat_ip", "load balancing is not supported", "gr1")
	})

	e.nbctl("lr-lb-del", "gr1", "lb1")
	nextWith(t, applied, "gr1", true, func() string { return "" })
	e.nbctl("set", "logical_router", "gr1", "options:dnat_force_snat_ip=203.0.113.99")
	nextWith(t, applied, "gr1", false, func() string { return "" })
	waitFor(t, 3*time.Second, "dnat_force_snat_ip refusing gr1", func() (bool, string) {
		return hasProblem("options:dnat_force_snat_ip", "DNATed traffic", "gr1")
	})
}
