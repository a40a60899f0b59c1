//go:build race

package conntrack

// raceEnabled keeps the slab and index on the Go heap under the race
// detector, which does not watch memory mapped outside it (hugemem.go).
const raceEnabled = true
