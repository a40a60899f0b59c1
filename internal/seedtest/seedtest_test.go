package seedtest

import (
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
