// Package e2e holds xgw's end-to-end tests: the namespace lab of bench/lab
// (a VM behind a real Open vSwitch acting as an OVN chassis, the gateway,
// an external host) with the xgw binary forwarding real traffic between
// them. They need root; CI runs them as root.
package e2e
