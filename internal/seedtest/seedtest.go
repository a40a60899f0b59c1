// Package seedtest holds the test fixtures of the seed scenario
// (examples/seed.yaml, the topology of the OVN report xgw was built for):
// its addresses and MACs, builders of its packets, and checksum checks.
//
// It is test support: only _test.go files import it. Packets are built
// with gopacket and the Geneve header by hand, and checksums are verified
// by sums written from scratch, so that tests never trust xgw's own
// encoders and checksum code. It must not import package datapath, whose
// tests are in-package: each package keeps its own pipeline harness
// (datapath's harness, bpf's pipe) built on these fixtures.
package seedtest

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// The seed's addresses.
var (
	VTEP    = net.IP{172, 31, 5, 23}       // the gateway's tunnel endpoint
	Chassis = net.IP{172, 31, 1, 21}       // the hypervisor's tunnel endpoint
	VM      = net.IP{10, 199, 100, 10}     // the VM behind the distributed router
	Server  = net.IP{172, 31, 6, 24}       // the external server
	SNAT    = net.IP{123, 123, 123, 123}   // the gateway router's SNAT address
	NextHop = packet.MustIP4("172.31.5.1") // the external next hop
)

// The seed's MACs.
var (
	MACDRJoin  = MustHW("ae:03:03:17:eb:df") // distributed router, join switch port
	MACGRJoin  = MustHW("ae:cd:cd:04:d7:d4") // gateway router, join switch port
	MACGRExt   = MustHW("ae:a9:a9:0c:6f:c8") // gateway router, external port
	MACNextHop = MustHW("88:2a:5e:a9:30:ab") // the external next hop
	MACDRSw1   = MustHW("ae:95:95:65:27:a6") // distributed router, the VM's switch port
	MACVM      = MustHW("00:00:19:91:00:10")
	MACHV      = MustHW("02:00:00:00:00:21") // hypervisor underlay NIC
	MACGWUnder = MustHW("02:00:00:00:00:23") // the gateway's underlay NIC
)

// MustHW parses a MAC address or panics.
func MustHW(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Neighbors returns a fresh table holding the seed's neighbors: the
// external next hop and the chassis.
func Neighbors() route.StaticNeighbors {
	return route.StaticNeighbors{
		NextHop:                       packet.MAC(MACNextHop),
		packet.MustIP4("172.31.1.21"): packet.MAC(MACHV),
	}
}

// ConfigPath is the path of examples/seed.yaml, usable from any package.
func ConfigPath() string { return Example("seed.yaml") }

// Example is the path of the example configuration examples/name.
func Example(name string) string { return filepath.Join(moduleRoot(), "examples", name) }

// moduleRoot is the directory holding go.mod: found from this source
// file's path, or, when the binary was built with -trimpath, by walking
// up from the working directory (a package's directory under go test).
func moduleRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Join(filepath.Dir(file), "..", "..")
	}
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			panic("seedtest: no go.mod above " + dir)
		}
	}
}

// Topology builds the topology of a configuration file.
func Topology(t testing.TB, configPath string) *route.Topology {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := route.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}
