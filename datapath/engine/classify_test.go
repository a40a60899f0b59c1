package engine

import (
	"encoding/binary"
	"testing"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// udpFrame builds eth/[vlan]/IPv4/UDP to dst:dport.
func udpFrame(vlan bool, dst packet.IP4, dport uint16, frag uint16) []byte {
	b := make([]byte, 0, 64)
	b = append(b, make([]byte, 12)...)
	if vlan {
		b = append(b, 0x81, 0x00, 0x00, 0x07)
	}
	b = append(b, 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0], ip[9] = 0x45, 17
	binary.BigEndian.PutUint16(ip[6:], frag)
	copy(ip[16:], dst[:])
	b = append(b, ip...)
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[2:], dport)
	return append(b, udp...)
}

func TestClassifier(t *testing.T) {
	vtep := packet.IP4{192, 0, 2, 1}
	c := classifier{vtep: vtep, port: 6081}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  flow.Port
	}{
		{"geneve", udpFrame(false, vtep, 6081, 0), flow.Underlay},
		{"geneve vlan", udpFrame(true, vtep, 6081, 0), flow.Underlay},
		{"other port", udpFrame(false, vtep, 53, 0), flow.External},
		{"nat addr", udpFrame(false, packet.IP4{198, 51, 100, 1}, 6081, 0), flow.External},
		{"fragment", udpFrame(false, vtep, 6081, 0x2000), flow.External},
		{"truncated", udpFrame(false, vtep, 6081, 0)[:30], flow.External},
		{"short", []byte{1, 2, 3}, flow.External},
	} {
		if got := c.inPort(tc.frame); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
