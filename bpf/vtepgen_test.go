package bpf

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// TestVTEPGenStaleWriterCannotRollBack: bumpVTEPsGen is a read-then-write from
// user space. A second writer of the shared (pinned) map that read the
// generation before two bumps of this one writes an older value back
// after them; a flow that cached the removed chassis under that value
// then forwards Geneve from it again.
// A second writer on the same pins that read the generation before this
// process's removals and then writes a value derived from it (the old
// read-plus-one bump did exactly that) must not re-validate a cache
// stamped after a removal.
func TestVTEPGenStaleWriterCannotRollBack(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5454, DPort: 53, Payload: []byte("abc")}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5454, Payload: []byte("d")}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
	e.install(t, fwd, rev)
	seed := seedVTEPs(t)
	other := packet.MustIP4("192.0.2.251")
	if err := e.fp.SetVTEPs(append(append([]packet.IP4{}, seed...), other)); err != nil {
		t.Fatal(err)
	}
	// Writer W' (another process sharing the pins) reads the generation...
	var stale uint32
	if err := e.fp.vtepsGen.Lookup(uint32(0), &stale); err != nil {
		t.Fatal(err)
	}
	// ...this process removes another chassis (gen stale+1),
	if err := e.fp.SetVTEPs(seed); err != nil {
		t.Fatal(err)
	}
	// a hit caches (stale+1, seed chassis),
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg))
	// the seed chassis is removed (gen stale+2),
	if err := e.fp.SetVTEPs([]packet.IP4{other}); err != nil {
		t.Fatal(err)
	}
	wantPunt(t, e, seedtest.Egress(t, eg), PuntUnknownVTEP)
	// and W' finishes its bump: stale+1.
	if err := e.fp.vtepsGen.Put(uint32(0), stale+1); err != nil {
		t.Fatal(err)
	}
	ret, _ := runFP(t, e.o.Program(), seedtest.Egress(t, eg))
	if ret == xdpRedirectVerdict {
		t.Fatalf("Geneve from a removed chassis forwarded by the fast path after a lost generation update")
	}
}

// A SetVTEPs that removed a chassis and then failed on a later removal
// must still leave the removed chassis refused by flows that had cached
// it (the bump used to be skipped by the early return).
func TestVTEPGenBumpedWhenSetFails(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5455, DPort: 53, Payload: []byte("abc")}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5455, Payload: []byte("d")}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
	e.install(t, fwd, rev)
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg)) // caches the seed chassis

	other := packet.MustIP4("192.0.2.251")
	if err := e.fp.SetVTEPs(append(append([]packet.IP4{}, seedVTEPs(t)...), other)); err != nil {
		t.Fatal(err)
	}
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg)) // caches the seed chassis
	defer func(d func(*ebpf.Map, packet.IP4) error) { deleteVTEP = d }(deleteVTEP)
	deleteVTEP = func(m *ebpf.Map, ip packet.IP4) error {
		if ip == other {
			return errors.New("injected delete failure")
		}
		return m.Delete([4]byte(ip))
	}
	err := e.fp.SetVTEPs([]packet.IP4{packet.MustIP4("192.0.2.250")})
	if err == nil {
		t.Fatal("SetVTEPs with a failing delete returned no error")
	}
	t.Logf("SetVTEPs: %v", err)
	ips, _ := e.fp.VTEPs()
	t.Logf("xgw_vteps after the failed SetVTEPs: %v (the seed chassis was removed)", ips)
	ret, _ := runFP(t, e.o.Program(), seedtest.Egress(t, eg))
	if ret == xdpRedirectVerdict {
		t.Fatalf("the seed chassis is no longer in xgw_vteps (%v), yet its Geneve is forwarded through the cached check", err)
	}
}
