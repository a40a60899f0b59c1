package ipfrag

import "testing"

// BenchmarkDatagram is the table's work for one 3-fragment datagram in
// order (first, SetFirst, two later ones), for an IPv4 key: what every
// IPv4 fragment pays for the key's IPv6 fields (compare with the IPv4-only
// key before them).
func BenchmarkDatagram(b *testing.B) {
	tb, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	k := k1
	for b.Loop() {
		k.ID++
		tb.Admit(&k, fr(0, 1480, true), nil, 1, 0)
		tb.SetFirst(&k, Info{SrcPort: 1, DstPort: 2}, 0)
		tb.Admit(&k, fr(1480, 2960, true), nil, 1, 0)
		tb.Admit(&k, fr(2960, 4008, false), nil, 1, 0)
	}
}
