// Package e2e holds xgw's end-to-end tests: the namespace lab of bench/lab
// (a VM behind a real Open vSwitch acting as an OVN chassis, the gateway,
// an external host) with the xgw binary forwarding real traffic between
// them, and the OVN lab (real ovn-northd, NB/SB, two hypervisors with
// ovn-controller) with xgw in OVN mode as gateway chassis gateway01
// (ovn_test.go; TestOVNBaseline runs the same checks against a real
// ovn-controller). They need root; CI runs them as root. ipv6_test.go
// runs issue 13's IPv6 checks on the dual-stack lab.
package e2e
