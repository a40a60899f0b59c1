package nat

import (
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

var (
	floatIP   = packet.MustIP4("203.0.113.50")
	clientIP  = packet.MustIP4("198.51.100.77")
	logicalIP = packet.MustIP4("10.199.100.20")
)

func TestDNATChooseReply(t *testing.T) {
	d := DNAT{External: floatIP, Logical: logicalIP}
	if !d.Matches(floatIP) || d.Matches(logicalIP) {
		t.Error("Matches")
	}
	orig := tuple(clientIP, 40000, floatIP, 22, packet.ProtoTCP, 6)
	reply, ok := d.ChooseReply(orig, noneTaken)
	if want := tuple(logicalIP, 22, clientIP, 40000, packet.ProtoTCP, 6); !ok || reply != want {
		t.Fatalf("reply %v %v, want %v", reply, ok, want)
	}
	taken := takenSet{}
	taken.commit(orig, reply)
	if _, ok := d.ChooseReply(orig, taken); ok {
		t.Error("DNAT handed out a taken tuple")
	}
	if n := testing.AllocsPerRun(100, func() { d.ChooseReply(orig, noneTaken) }); n != 0 {
		t.Errorf("DNAT.ChooseReply: %v allocs", n)
	}
}

// dnat_and_snat's outbound side: the logical host leaves as its floating IP
// with its ports, whatever they are.
func TestDNATOutboundSNAT(t *testing.T) {
	d := DNAT{External: floatIP, Logical: logicalIP}
	s, err := d.SNAT(1, 65535)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Matches(logicalIP) || s.Matches(vmIP) {
		t.Error("outbound SNAT must match exactly the logical IP")
	}
	for _, port := range []uint16{1, 80, 1023, 65535} {
		orig := tuple(logicalIP, port, clientIP, 443, packet.ProtoTCP, snatZone)
		reply, ok := s.ChooseReply(orig, noneTaken)
		if want := tuple(clientIP, 443, floatIP, port, packet.ProtoTCP, snatZone); !ok || reply != want {
			t.Errorf("port %d: %v %v, want %v", port, reply, ok, want)
		}
	}
	if _, err := (DNAT{Logical: logicalIP}).SNAT(1, 65535); err == nil {
		t.Error("zero external accepted")
	}
}
