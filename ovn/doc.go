// Package ovn makes xgw an OVN gateway chassis. It connects to the OVN
// Northbound and Southbound databases (libovsdb, monitor-based caches,
// models generated into nbdb/ and sbdb/), registers this gateway as a
// Chassis the way ovn-controller 23.03 does (chassis.go), claims the port
// bindings OVN assigns to it (claim.go): the l3gateway ports of gateway
// routers bound to it, and the chassisredirect ports of distributed
// gateway ports it is the active gateway of (dgp.go). It translates what
// it serves into the YAML-mode topology (a config.Config without the ovn:
// section) that the rest of xgw already runs (translate.go, build.go),
// and follows changes live, debounced, through the same apply path as a
// reload (controller.go).
//
// What xgw cannot serve (load balancers, stateless NAT, router policies,
// ECMP routes, distributed NAT, ...) is reported once per object and the
// router that needs it is refused as a whole, never half served.
package ovn
