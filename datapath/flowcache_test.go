package datapath

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// script is a conversation through the seed gateway: a TCP connection with
// data both ways and a teardown, an answered UDP flow, a one-way UDP flow
// and a ping, interleaved. Ids and ports are in the SNAT range so that
// both pipelines keep them (a probed port is drawn from a keyed hash).
func script(t *testing.T) []struct {
	port  flow.Port
	frame []byte
} {
	var s []struct {
		port  flow.Port
		frame []byte
	}
	eg := func(x seedtest.L4) {
		s = append(s, struct {
			port  flow.Port
			frame []byte
		}{flow.Underlay, seedtest.Egress(t, x)})
	}
	rp := func(x seedtest.L4) {
		s = append(s, struct {
			port  flow.Port
			frame []byte
		}{flow.External, seedtest.Reply(t, x)})
	}
	tcp := func(sp, dp uint16, syn, ack, fin bool, seq, an uint32, data string) seedtest.L4 {
		return seedtest.L4{Proto: layers.IPProtocolTCP, SPort: sp, DPort: dp, SYN: syn, ACK: ack, FIN: fin, Seq: seq, AckNum: an, Payload: []byte(data)}
	}
	eg(tcp(40000, 80, true, false, false, 100, 0, ""))
	rp(tcp(80, 40000, true, true, false, 900, 101, ""))
	eg(tcp(40000, 80, false, true, false, 101, 901, ""))
	seq, rseq := uint32(101), uint32(901)
	for i := 0; i < 20; i++ {
		eg(tcp(40000, 80, false, true, false, seq, rseq, "request"))
		seq += 7
		rp(tcp(80, 40000, false, true, false, rseq, seq, "response!"))
		rseq += 9
		eg(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5353, DPort: 53, Payload: []byte("query")})
		rp(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5353, Payload: []byte("answer")})
		eg(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6000, DPort: 9, Payload: []byte("one way")})
		eg(seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 4242, Payload: []byte("ping")})
		rp(seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, ICMPID: 4242, Payload: []byte("ping")})
	}
	eg(tcp(40000, 80, false, true, true, seq, rseq, ""))
	rp(tcp(80, 40000, false, true, true, rseq, seq+1, ""))
	eg(tcp(40000, 80, false, true, false, seq+1, rseq+1, ""))
	// Data after the close takes the full pipeline again.
	eg(tcp(40000, 80, false, true, false, seq+1, rseq+1, "late"))
	return s
}

// TestFlowCacheMatchesPipeline runs the same script through a pipeline
// with the flow cache and one without: every output frame must be byte for
// byte the same, and so must conntrack, counters and timeouts included.
func TestFlowCacheMatchesPipeline(t *testing.T) {
	with := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	without := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	without.w.cache = nil
	for i, s := range script(t) {
		a, b := with.run(s.port, s.frame), without.run(s.port, s.frame)
		if a.Verdict != b.Verdict || a.Reason != b.Reason || a.OutPort != b.OutPort || !bytes.Equal(a.Frame(), b.Frame()) {
			t.Fatalf("packet %d: cache %v/%v/%v % x\n   pipeline %v/%v/%v % x", i, a.Verdict, a.Reason, a.OutPort, a.Frame(), b.Verdict, b.Reason, b.OutPort, b.Frame())
		}
		with.now += 1e6
		without.now += 1e6
	}
	hits := with.pl.Stats().CacheHits
	if hits < 100 {
		t.Fatalf("only %d cache hits: the cache was hardly used", hits)
	}
	if without.pl.Stats().CacheHits != 0 {
		t.Fatal("cache hits with the cache off")
	}
	var da, db strings.Builder
	with.ct.Dump(&da, conntrack.DumpOptions{Zone: -1, Verbose: true, Now: with.now})
	without.ct.Dump(&db, conntrack.DumpOptions{Zone: -1, Verbose: true, Now: without.now})
	if da.String() != db.String() {
		t.Fatalf("conntrack differs with the cache:\n%s\nwithout:\n%s", da.String(), db.String())
	}
	t.Logf("%d of %d packets from the cache", hits, len(script(t)))
}

func TestFlowCacheInvalidation(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	eg := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7777, DPort: 53})
	rp := seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 7777})
	send := func() {
		wantTX(t, h.run(flow.Underlay, eg), flow.External)
	}
	send()
	wantTX(t, h.run(flow.External, rp), flow.Underlay)
	send() // learns
	hits := func() uint64 { return h.pl.Stats().CacheHits }
	send()
	if hits() != 1 {
		t.Fatalf("hits %d after learning, want 1", hits())
	}
	// A reload (new plan) forgets every entry.
	if err := h.pl.SetTopology(h.topo); err != nil {
		t.Fatal(err)
	}
	send()
	if hits() != 1 {
		t.Fatal("hit across a topology change")
	}
	send()
	if hits() != 2 {
		t.Fatalf("not relearned after the topology change: %d", hits())
	}
	// A neighbour's MAC change forgets entries.
	nv := &versionedNeighbors{StaticNeighbors: h.pl.neigh.(interface {
		Lookup(packet.IP4) (packet.MAC, bool)
	})}
	h.pl.neigh, h.pl.neighVer = nv, nv
	send() // relearn under version 0
	send()
	before := hits()
	nv.v++
	out := h.run(flow.Underlay, eg)
	wantTX(t, out, flow.External)
	if hits() != before {
		t.Fatal("hit across a neighbour change")
	}
	send() // learned again, in place of the outdated entry
	if hits() != before+1 {
		t.Fatal("not relearned after the neighbour change")
	}
	// A connection that is gone misses and the pipeline decides.
	send()
	for _, c := range conns(h, 16) {
		h.ct.Delete(c.Handle)
	}
	before = hits()
	send() // the SNAT connection is committed again
	if hits() != before {
		t.Fatal("hit on a deleted connection")
	}
	// TTL too small for the remembered hops: the pipeline answers it
	// with a time exceeded back to the VM, not the cache forwarding it.
	send()
	low := seedtest.Egress(t, seedtest.L4{TTL: 1, Proto: layers.IPProtocolUDP, SPort: 7777, DPort: 53})
	wantTimeExceeded(t, h.run(flow.Underlay, low))
}

type versionedNeighbors struct {
	StaticNeighbors interface {
		Lookup(packet.IP4) (packet.MAC, bool)
	}
	v uint64
}

func (n *versionedNeighbors) Lookup(ip packet.IP4) (packet.MAC, bool) {
	return n.StaticNeighbors.Lookup(ip)
}
func (n *versionedNeighbors) Version() uint64 { return n.v }

// TestFlowCacheLayout: an entry is two cache lines and starts on one, so a
// hit reads two lines, not three.
func TestFlowCacheLayout(t *testing.T) {
	if sz := unsafe.Sizeof(cacheEntry{}); sz != 128 {
		t.Fatalf("cacheEntry is %d bytes, want 128", sz)
	}
	c := new(flowCache)
	if a := uintptr(unsafe.Pointer(&c.slots[0])); a%64 != 0 {
		t.Fatalf("entries start at %#x, not on a cache line", a)
	}
}

// TestFlowCacheHoldsTenThousandFlows: both directions of 10k flows fit in
// the cache together (the load BenchmarkPipelineEstablished runs).
func TestFlowCacheHoldsTenThousandFlows(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{Capacity: 1 << 16})
	fs := establishedFlows(t, h, 10000)
	for round := 0; round < 3; round++ { // warm up
		for start := 0; start < 10000; start += batchSize / 2 {
			fs.fill(start)
			h.w.Process(fs.batch)
		}
	}
	before := h.pl.Stats().CacheHits
	pkts := uint64(0)
	for start := 0; start < 10000; start += batchSize / 2 {
		fs.fill(start)
		h.w.Process(fs.batch)
		pkts += batchSize
	}
	hits := h.pl.Stats().CacheHits - before
	if hits < pkts*99/100 {
		t.Fatalf("%d of %d packets of 10k cycled flows hit the cache, want >= 99%%", hits, pkts)
	}
	t.Logf("%d of %d packets hit", hits, pkts)
}

// TestFlowCacheStepsAsideWhenThrashing: with three times more active flows
// than entries the cache cannot help, so it must bypass itself instead of
// adding a miss and a learn to every packet; forwarding stays correct.
func TestFlowCacheStepsAsideWhenThrashing(t *testing.T) {
	const flows = 3 * flowCacheSets * flowCacheWays
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{Capacity: 4 * flows})
	tmpl := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 9000, Payload: make([]byte, 18)})
	inner := len(tmpl) - (14 + 20 + 8 + 18)
	batch := make([]Packet, batchSize)
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	send := func(n int) {
		for j := range batch {
			f := bufs[j][headroom:]
			copy(f, tmpl)
			// 4096 source ports per destination, as in
			// BenchmarkPipelineNewConn (the inner UDP checksum goes
			// stale; nothing verifies it).
			f[inner+34], f[inner+35] = byte((n+j)>>8)&0x0f, byte(n+j)
			setDstLow(f[inner+14:], 100, byte((n+j)>>12))
			seedtest.FixOuterUDP(f[:len(tmpl)])
			batch[j] = Packet{Buf: bufs[j], Off: headroom, Len: len(tmpl), InPort: flow.Underlay}
		}
		h.w.Process(batch)
		for j := range batch {
			if batch[j].Verdict != VerdictTX {
				t.Fatalf("flow %d: %v %v", n+j, batch[j].Verdict, batch[j].Reason)
			}
		}
	}
	for round := 0; round < 3; round++ {
		for n := 0; n < flows; n += batchSize {
			send(n)
		}
	}
	if h.w.cache.bypass == 0 {
		t.Fatalf("cache not bypassed under %d cycled flows (%d entries)", flows, flowCacheSets*flowCacheWays)
	}
}

// TestFlowCachePlaceReusesOutdated: entries learned under an older plan or
// neighbour version are free for learning; live ones are displaced only on
// one conflict in replaceEvery.
func TestFlowCachePlaceReusesOutdated(t *testing.T) {
	c := new(flowCache)
	k := flow.Key{InPort: flow.External, Src: packet.IP4{198, 51, 100, 1}, Dst: packet.IP4{203, 0, 113, 10}, SrcPort: 53, DstPort: 4000, Proto: packet.ProtoUDP}
	h := k.Hash()
	a, b, _ := sets(h)
	fill := func() {
		for _, set := range [2]uint32{a, b} {
			for way := range flowCacheWays {
				other := k
				other.SrcPort = uint16(1000 + int(set)*flowCacheWays + way)
				c.slots[int(set)*flowCacheWays+way] = cacheEntry{epoch: c.epoch, act: flow.Action{Key: other}}
				c.tags[set][way] = 0xdead | 1
			}
		}
	}
	c.sync(1, 7)
	fill()
	c.sync(1, 8)
	if _, ok := c.place(&k, h); !ok {
		t.Fatal("entries of an older neighbour version were not reused")
	}
	fill()
	c.sync(2, 8)
	if _, ok := c.place(&k, h); !ok {
		t.Fatal("entries of an older plan were not reused")
	}
	fill()
	c.sync(2, 8)
	placed := 0
	for range replaceEvery {
		if _, ok := c.place(&k, h); ok {
			placed++
		}
	}
	if placed != 1 {
		t.Fatalf("live entries displaced %d times in %d conflicts, want 1", placed, replaceEvery)
	}
}

// TestFlowCacheEpochWrap: when the epoch counter wraps, every entry is
// forgotten, so one learned 2^32 epochs ago cannot hit again.
func TestFlowCacheEpochWrap(t *testing.T) {
	c := new(flowCache)
	c.sync(1, 1)
	k := flow.Key{InPort: flow.External, SrcPort: 1, Proto: packet.ProtoUDP}
	h := k.Hash()
	i, ok := c.place(&k, h)
	if !ok {
		t.Fatal("empty cache refused an entry")
	}
	c.slots[i] = cacheEntry{epoch: 1, act: flow.Action{Key: k}}
	_, _, tag := sets(h)
	c.tags[i/flowCacheWays][i%flowCacheWays] = tag
	if c.find(&k, h) != i {
		t.Fatal("entry not found in its epoch")
	}
	c.epoch = ^uint32(0)
	c.sync(2, 1)
	if c.epoch != 1 || c.find(&k, h) >= 0 {
		t.Fatalf("after the wrap: epoch %d, old entry found %v", c.epoch, c.find(&k, h) >= 0)
	}
}

// TestFlowCacheAt: the check of the way prefetch saw a key's tag in (at)
// finds the entry exactly when find does, and refuses a way that lost the
// tag, holds another key with the same tag, or an entry of an old epoch.
func TestFlowCacheAt(t *testing.T) {
	c := new(flowCache)
	c.sync(1, 1)
	k := flow.Key{InPort: flow.External, SrcPort: 1, Proto: packet.ProtoUDP}
	h := k.Hash()
	i, ok := c.place(&k, h)
	if !ok {
		t.Fatal("empty cache refused an entry")
	}
	c.slots[i] = cacheEntry{epoch: c.epoch, act: flow.Action{Key: k}}
	_, _, tag := sets(h)
	c.tags[i/flowCacheWays][i%flowCacheWays] = tag
	if c.at(&k, h, i) != i || c.find(&k, h) != i {
		t.Fatalf("at %d, find %d, want %d", c.at(&k, h, i), c.find(&k, h), i)
	}
	for _, bad := range []int{-1, len(c.slots), i ^ 1} {
		if c.at(&k, h, bad) >= 0 {
			t.Fatalf("at(%d) found the entry of way %d", bad, i)
		}
	}
	other := k
	other.DstPort = 2
	c.slots[i].act.Key = other // same tag, another key
	if c.at(&k, h, i) >= 0 {
		t.Fatal("at accepted another key under the same tag")
	}
	c.slots[i].act.Key = k
	c.sync(2, 1) // a new epoch
	if c.at(&k, h, i) >= 0 || c.find(&k, h) >= 0 {
		t.Fatal("at or find accepted an entry of an old epoch")
	}
	c.sync(2, 1)
	c.slots[i].epoch = c.epoch
	c.drop(i)
	if c.at(&k, h, i) >= 0 {
		t.Fatal("at accepted a dropped way")
	}
}

// TestPrefetchHintHits: with the prefetch's hint in play (fast() reusing
// its key, hash and way), every packet of established flows still hits and
// is forwarded, and no hint is left for packets run outside Process.
func TestPrefetchHintHits(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := establishedFlows(t, h, 32)
	fs.fill(0)
	h.w.Process(fs.batch) // learn every flow
	before := h.pl.Stats().CacheHits
	fs.fill(0)
	h.w.Process(fs.batch)
	if got := h.pl.Stats().CacheHits - before; got != uint64(len(fs.batch)) {
		t.Fatalf("%d cache hits in a batch of %d established packets", got, len(fs.batch))
	}
	for i := range fs.batch {
		if p := fs.batch[i]; p.Verdict != VerdictTX {
			t.Fatalf("slot %d: %v %v", i, p.Verdict, p.Reason)
		}
	}
	if h.w.slot != 0 {
		t.Fatalf("slot %d left set after Process", h.w.slot)
	}
}
