package bpf

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

func (e *fpEnv) used(t *testing.T) uint32 {
	t.Helper()
	var v uint32
	if err := e.o.objs.XgwFlowsUsed.Lookup(uint32(0), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFlowsUsed: xgw_flows_used is set by the first install and cleared
// only by the removal that empties xgw_flows, and the program skips the
// flow lookup while it is clear: a flow written around FastPath with the
// mark clear is not forwarded (a miss), the same flow with it set is.
func TestFlowsUsed(t *testing.T) {
	e := newFP(t, true)
	if u := e.used(t); u != 0 {
		t.Fatalf("fresh load: xgw_flows_used %d", u)
	}
	x := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1234, DPort: 53}
	fwd, rev := e.p.establish(seedtest.Egress(t, x), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 1234})
	frame := seedtest.Egress(t, x)
	e.install(t, fwd, rev)
	if u := e.used(t); u != 1 {
		t.Fatalf("after install: xgw_flows_used %d", u)
	}
	if ret, _ := runFP(t, e.o.Program(), frame); ret != xdpRedirectVerdict {
		t.Fatalf("installed flow: verdict %d", ret)
	}
	// The program reads the mark: cleared by hand, the flow is skipped.
	if err := e.fp.setUsed(0); err != nil {
		t.Fatal(err)
	}
	wantPuntMiss(t, e, frame)
	if err := e.fp.setUsed(1); err != nil {
		t.Fatal(err)
	}
	// Removing one of two keeps the mark; removing the last clears it.
	if err := e.fp.Remove(fwd.Key); err != nil {
		t.Fatal(err)
	}
	if u := e.used(t); u != 1 {
		t.Fatalf("one flow left: xgw_flows_used %d", u)
	}
	if n, err := e.fp.RemoveBatch([]flow.Key{rev.Key}); err != nil || n != 1 {
		t.Fatalf("RemoveBatch: %d, %v", n, err)
	}
	if u := e.used(t); u != 0 {
		t.Fatalf("map empty: xgw_flows_used %d", u)
	}
	// A later load over the same maps (pins) finds them non-empty.
	e.install(t, fwd)
	if err := e.fp.setUsed(0); err != nil {
		t.Fatal(err)
	}
	if err := e.fp.syncUsed(); err != nil || e.used(t) != 1 {
		t.Fatalf("syncUsed over a non-empty map: %d, %v", e.used(t), err)
	}
}

// TestPinnedFlowsKeepSize: the default size changed (262144 to 65536);
// a map pinned by a run of the old default is reused at its size, with
// its flows, rather than failing the load.
func TestPinnedFlowsKeepSize(t *testing.T) {
	needRoot(t)
	dir := bpffsDir(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), PinPath: dir, FlowCapacity: 262144})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = loadPinned(t, dir)
	defer o.Close()
	if n := o.objs.XgwFlows.MaxEntries(); n != 262144 {
		t.Fatalf("reloaded with the default: %d entries, want the pinned 262144", n)
	}
}
