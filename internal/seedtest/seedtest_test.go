package seedtest

import (
	"net"
	"testing"

	"github.com/google/gopacket/layers"
)

// TestFixtures: the seed's config loads from any package, and the packets
// built here pass the checks here.
func TestFixtures(t *testing.T) {
	Topology(t, ConfigPath())
	for _, x := range []L4{
		{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true, Seq: 1000},
		{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: []byte("odd")},
		{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 77, Payload: []byte("ping")},
	} {
		eg := Egress(t, x, []byte{0x01, 0x03, 0x05, 0x00})
		VerifyOuterUDP(t, eg)
		CheckChecksums(t, eg)
		CheckChecksums(t, Reply(t, x))
	}
}

// recorder is a testing.TB that notes failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

// TestChecksums6: IPv6 frames built here, directly and over both
// underlays, pass CheckChecksums, and one with a flipped bit in its
// transport segment, or a zero UDP checksum over IPv6, does not.
func TestChecksums6(t *testing.T) {
	vm, srv := net.ParseIP("fd00:199:100::10"), net.ParseIP("2001:db8:31::6:24")
	for _, x := range []L4{
		{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true, Seq: 1000},
		{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: []byte("odd")},
		{Proto: layers.IPProtocolICMPv6, ICMPID: 77, Payload: []byte("ping")},
	} {
		inner := InnerIPv6(t, MACDRJoin, MACGRJoin, vm, srv, x)
		for _, f := range [][]byte{inner, Geneve(t, Chassis, VTEP, 1, 1, 2, inner), Geneve6(t, net.ParseIP("2001:db8:31::22"), net.ParseIP("2001:db8:31::23"), 1, 1, 2, inner)} {
			CheckChecksums(t, f)
			bad := append([]byte(nil), f...)
			bad[len(bad)-1] ^= 0x10
			r := &recorder{TB: t}
			CheckChecksums(r, bad)
			if !r.failed {
				t.Errorf("%v: a flipped bit in the segment passed", x.Proto)
			}
		}
	}
	u := InnerIPv6(t, MACDRJoin, MACGRJoin, vm, srv, L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2})
	u[14+40+6], u[14+40+7] = 0, 0
	r := &recorder{TB: t}
	if CheckChecksums(r, u); !r.failed {
		t.Error("UDP over IPv6 without a checksum passed")
	}
}
