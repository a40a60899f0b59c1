package nat

import (
	"bytes"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// The seed end to end against the real conntrack table: commit through
// SNAT, track the reply, relate an ICMP error, and check every rewrite.
// This pins the contract between the two packages (tuple directions,
// LookupRelated's Dir, Target).
func TestWithConntrackTable(t *testing.T) {
	tab, err := conntrack.NewTable(conntrack.Config{Capacity: 1024})
	if err != nil {
		t.Fatal(err)
	}
	s := mustSNAT(t, "10.199.100.0/24", 0, 0, snatIP)
	payload := []byte("dperf")
	var now int64 = 1

	// A conn that already holds 123.123.123.123:5000 towards the peer, so
	// that the seed conn gets a probed port.
	squat := tuple(packet.IP4{10, 199, 100, 99}, 5000, peerIP, 5201, packet.ProtoUDP, snatZone)
	if _, err := tab.Commit(squat, nil, now, s); err != nil {
		t.Fatal(err)
	}

	// Egress: the first packet commits.
	frame := udpFrame(t, vmIP, 5000, peerIP, 5201, payload)
	p := decode(t, frame)
	k := conntrack.Tuple{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto, Zone: snatZone}
	m, err := tab.Commit(k, nil, now, s)
	if err != nil {
		t.Fatal(err)
	}
	if m.State&conntrack.SrcNAT == 0 {
		t.Errorf("state %v lacks snat", m.State)
	}
	port := m.Reply.DstPort
	if m.Reply.Dst != snatIP || port == 5000 {
		t.Fatalf("reply %v", m.Reply)
	}
	tgt, needed := Target(&m)
	if !needed {
		t.Fatal("no rewrite")
	}
	Rewrite(frame, p, tgt)
	checkFrame(t, frame)
	if want := datagram(udpFrame(t, snatIP, port, peerIP, 5201, payload)); !bytes.Equal(datagram(frame), want) {
		t.Errorf("egress\n got %x\nwant %x", datagram(frame), want)
	}

	// The reply is found by its wire tuple and goes back to the VM.
	frame = udpFrame(t, peerIP, 5201, snatIP, port, payload)
	p = decode(t, frame)
	k = conntrack.Tuple{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto, Zone: snatZone}
	m, ok := tab.Lookup(k, nil, now)
	if !ok || m.Dir != conntrack.DirReply {
		t.Fatalf("reply lookup: %+v %v", m, ok)
	}
	tgt, _ = Target(&m)
	Rewrite(frame, p, tgt)
	checkFrame(t, frame)
	if want := datagram(udpFrame(t, peerIP, 5201, vmIP, 5000, payload)); !bytes.Equal(datagram(frame), want) {
		t.Errorf("reply\n got %x\nwant %x", datagram(frame), want)
	}

	// The peer's port unreachable about the translated datagram.
	sent := datagram(udpFrame(t, snatIP, port, peerIP, 5201, payload))
	frame = icmpErrFrame(t, peerIP, snatIP, packet.ICMPDestUnreachable, 3, sent)
	p = decode(t, frame)
	inner, ok := InnerTuple(frame, p, snatZone)
	if !ok {
		t.Fatal("InnerTuple")
	}
	m, ok = tab.LookupRelated(inner, nil, now)
	if !ok || m.State&conntrack.Related == 0 || m.Dir != conntrack.DirReply {
		t.Fatalf("related: %+v %v", m, ok)
	}
	if !RewriteICMPError(frame, p, &m) {
		t.Fatal("RewriteICMPError refused")
	}
	checkFrame(t, frame)
	want := icmpErrFrame(t, peerIP, vmIP, packet.ICMPDestUnreachable, 3,
		datagram(udpFrame(t, vmIP, 5000, peerIP, 5201, payload)))
	if !bytes.Equal(datagram(frame), datagram(want)) {
		t.Errorf("error\n got %x\nwant %x", datagram(frame), datagram(want))
	}

	// An error raised before the NAT point quotes the untranslated egress
	// datagram: conntrack relates it by its fallback and nothing changes.
	frame = icmpErrFrame(t, routerIP, vmIP, packet.ICMPTimeExceeded, 0,
		datagram(udpFrame(t, vmIP, 5000, peerIP, 5201, payload)))
	before := append([]byte(nil), frame...)
	p = decode(t, frame)
	inner, _ = InnerTuple(frame, p, snatZone)
	m, ok = tab.LookupRelated(inner, nil, now)
	if !ok || m.Dir != conntrack.DirReply {
		t.Fatalf("related (fallback): %+v %v", m, ok)
	}
	if !RewriteICMPError(frame, p, &m) || !bytes.Equal(frame, before) {
		t.Error("pre-NAT error was refused or changed")
	}
}
