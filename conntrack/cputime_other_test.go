//go:build !linux

package conntrack

import "testing"

type cpuClock struct{}

func startCPU() *cpuClock           { return &cpuClock{} }
func (*cpuClock) pause()            {}
func (*cpuClock) resume()           {}
func (*cpuClock) report(*testing.B) {}
