package bpf

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/offload"
	"github.com/xgw-dev/xgw/packet"
)

// TestBackend: the XDP backend says "full" in offload's terms, reads its
// entries back, keeps bpf_ktime as its clock, and Clear empties it.
func TestBackend(t *testing.T) {
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP.To4())), FlowCapacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b := NewBackend(o.FastPath())
	var as []flow.Action
	for i := range 5 {
		a := flow.Action{Key: flow.Key{InPort: flow.External, Proto: packet.ProtoUDP, SrcPort: uint16(i),
			Src: packet.MustIP4("198.51.100.1"), Dst: packet.MustIP4("203.0.113.1")}, OutPort: flow.External}
		a.NATSrc, a.NATDst, a.NATSrcPort = a.Key.Src, a.Key.Dst, a.Key.SrcPort
		as = append(as, a)
	}
	n, err := b.InstallBatch(as)
	if n != 4 || !errors.Is(err, offload.ErrFull) || !errors.Is(err, ErrFull) {
		t.Fatalf("InstallBatch of 5 into 4: %d, %v; want 4 and offload.ErrFull", n, err)
	}
	if c, err := b.Counters(as[1].Key); err != nil || c != (offload.Counters{}) {
		t.Fatalf("Counters of a fresh entry: %+v, %v", c, err)
	}
	if _, err := b.Counters(as[4].Key); err == nil {
		t.Fatal("Counters of an entry that is not there")
	}
	seen := 0
	if err := b.Iterate(func(a *flow.Action, _ offload.Counters) bool { seen++; return true }); err != nil || seen != 4 {
		t.Fatalf("Iterate: %d entries, %v", seen, err)
	}
	if d := b.Now() - int64(Ktime()); d > 0 || d < -1e9 {
		t.Fatalf("Now is not bpf_ktime: off by %d ns", d)
	}
	if n, err := o.FastPath().Clear(); n != 4 || err != nil {
		t.Fatalf("Clear: %d, %v", n, err)
	}
	if n, err := b.RemoveBatch([]flow.Key{as[0].Key}); n != 0 || err != nil {
		t.Fatalf("RemoveBatch after Clear: %d, %v", n, err)
	}
}

// TestBackend6EchoDirection: Iterate6 gives an ICMPv6 echo-reply entry
// the reply direction (the map keeps the echo type, not the
// connections), so that dump-flows prints icmpv6(type=129) for it.
func TestBackend6EchoDirection(t *testing.T) {
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP.To4())), FlowCapacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b := NewBackend(o.FastPath())
	eg, rep := actions6(packet.ProtoICMPv6, false)
	if n, err := b.InstallBatch6([]flow.Action6{eg, rep}); n != 2 || err != nil {
		t.Fatalf("InstallBatch6: %d, %v", n, err)
	}
	dirs := map[flow.Port]conntrack.Dir{}
	if err := b.Iterate6(func(a *flow.Action6, _ offload.Counters) bool {
		if a.Conns[0].Dir != a.Conns[1].Dir {
			t.Errorf("%v: zone directions differ: %+v", a.Key.InPort, a.Conns)
		}
		dirs[a.Key.InPort] = a.Conns[1].Dir
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs[flow.Underlay] != conntrack.DirOrig || dirs[flow.External] != conntrack.DirReply {
		t.Fatalf("directions by in_port %v, want underlay orig (request), external reply", dirs)
	}
}

// TestBackendClear6: Clear removes the IPv6 entries too (a gateway with
// offload off must not leave a previous one's IPv6 flows forwarding).
func TestBackendClear6(t *testing.T) {
	e := newFP6(t)
	eg, rep := actions6(packet.ProtoUDP, false)
	b := NewBackend(e.fp)
	if n, err := b.InstallBatch6([]flow.Action6{rep, eg}); n != 2 || err != nil {
		t.Fatalf("InstallBatch6: %d, %v", n, err)
	}
	if n, err := e.fp.Clear(); n != 2 || err != nil {
		t.Fatalf("Clear: %d, %v; want the 2 IPv6 entries", n, err)
	}
	for f, err := range e.fp.Flows6() {
		t.Fatalf("IPv6 entry %+v (%v) left after Clear", f.Action.Key, err)
	}
}
