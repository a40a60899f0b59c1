package bpf

import (
	"bytes"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// rawAction reads k's map value as stored.
func rawAction(t *testing.T, e *fpEnv, k flow.Key) gwFpAction {
	t.Helper()
	ek := encodeKey(k)
	var v gwFpAction
	if err := e.fp.flows.Lookup(&ek, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFastPathVTEPCache: a hit from a known chassis caches the check in
// the flow (include/vtepcache.h), and removing the chassis from the set
// (SetVTEPs) stops its cached flows at once: the next packet punts as
// geneve-unknown-source, untouched, without counting on the flow. Adding
// it back forwards again. Without the generation bump in SetVTEPs the
// punt after the removal fails.
func TestFastPathVTEPCache(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5252, DPort: 53, Payload: []byte("abc")}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5252, Payload: []byte("d")}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
	e.install(t, fwd, rev)
	if c := rawAction(t, e, fwd.Key).Outer; c != ([64]byte{}) {
		t.Fatalf("fresh install: cache %x, want zero", c[:8])
	}
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg))
	if c := rawAction(t, e, fwd.Key).Outer; c == ([64]byte{}) {
		t.Fatalf("a hit from the chassis cached nothing")
	}
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg))

	if err := e.fp.SetVTEPs([]packet.IP4{packet.MustIP4("192.0.2.250")}); err != nil {
		t.Fatal(err)
	}
	pk := rawAction(t, e, fwd.Key).Packets
	wantPunt(t, e, seedtest.Egress(t, eg), PuntUnknownVTEP)
	if got := rawAction(t, e, fwd.Key).Packets; got != pk {
		t.Fatalf("flow counted a packet of a removed chassis: %d -> %d", pk, got)
	}
	// The reply direction never looks at the set.
	e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, toRev(rp, rev)))

	setSeedVTEPs(t, e.fp)
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg))
}

// TestFastPathVTEPCacheKeepsTemplate: a flow that decapsulates and
// encapsulates again (underlay to underlay) keeps its outer template where
// decap-only flows keep the cache: its output stays the same hit after
// hit and its template is never overwritten.
func TestFastPathVTEPCacheKeepsTemplate(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5353, DPort: 53, Payload: []byte("abcdef")}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5353, Payload: []byte("g")}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
	fwd.OutPort, fwd.Encap, fwd.Outer = flow.Underlay, true, rev.Outer
	e.install(t, fwd)
	tpl := rawAction(t, e, fwd.Key).Outer
	var first []byte
	for i := range 3 {
		ret, out := runFP(t, e.o.Program(), seedtest.Egress(t, eg))
		if ret != xdpRedirectVerdict {
			t.Fatalf("hit %d: verdict %d; stats %+v", i, ret, e.stats(t).FastPath)
		}
		if first == nil {
			first = out
		} else if !bytes.Equal(out, first) {
			t.Fatalf("hit %d differs from the first\n got %x\nwant %x", i, out, first)
		}
	}
	if got := rawAction(t, e, fwd.Key).Outer; got != tpl {
		t.Fatalf("template overwritten:\n got %x\nwant %x", got, tpl)
	}
}
