package datapath

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/ipfrag"
)

// datagramLen is the UDP datagram of the fragment tests: 4000 bytes (8 of
// header), three fragments at a 1500-byte MTU (1480, 1480, 1040).
const datagramLen = 4000

// udpFragments builds an Ethernet/IPv4/UDP datagram of datagramLen bytes
// with IP id and a payload derived from seed, and splits it as a host
// whose MTU is 1500 would.
func udpFragments(t testing.TB, src, dst net.HardwareAddr, sip, dip net.IP, sport, dport, id uint16, seed byte) [][]byte {
	t.Helper()
	frags := udpFragmentsN(t, src, dst, sip, dip, sport, dport, id, seed, datagramLen)
	if len(frags) != 3 {
		t.Fatalf("%d fragments, want 3", len(frags))
	}
	return frags
}

// udpFragmentsN is udpFragments for a datagram of size bytes (UDP header
// included): ceil((size)/1480) fragments.
func udpFragmentsN(t testing.TB, src, dst net.HardwareAddr, sip, dip net.IP, sport, dport, id uint16, seed byte, size int) [][]byte {
	t.Helper()
	payload := make([]byte, size-8)
	for i := range payload {
		payload[i] = seed + byte(i*7)
	}
	e := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 63, Protocol: layers.IPProtocolUDP, SrcIP: sip, DstIP: dip, Id: id}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	whole := seedtest.Serialize(t, e, ip, udp, gopacket.Payload(payload))
	hdr, data := whole[:34], whole[34:]
	var frags [][]byte
	for off := 0; off < len(data); off += 1480 {
		end := min(off+1480, len(data))
		f := append(append([]byte(nil), hdr...), data[off:end]...)
		ff := uint16(off / 8)
		if end < len(data) {
			ff |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(f[16:], uint16(20+end-off))
		binary.BigEndian.PutUint16(f[20:], ff)
		f[24], f[25] = 0, 0
		binary.BigEndian.PutUint16(f[24:], ^seedtest.OnesSum(f[14:34], 0))
		frags = append(frags, f)
	}
	return frags
}

// egressFragments are the VM's datagram to the server, each fragment in
// Geneve from the hypervisor.
func egressFragments(t testing.TB, id uint16) [][]byte {
	fs := udpFragments(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, 5000, 7, id, 1)
	for i, f := range fs {
		fs[i] = seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, f)
	}
	return fs
}

// replyFragments are the server's datagram back to the SNAT address.
func replyFragments(t testing.TB, id uint16, dport uint16) [][]byte {
	return udpFragments(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, seedtest.SNAT, 7, dport, id, 2)
}

// runBatch runs frames through the harness as one batch, in the order
// given, and returns the copies of what was transmitted (the batch's and
// the released fragments'), by output port.
func (h *harness) runBatch(port flow.Port, frames ...[]byte) (out [][]byte, batch []Packet) {
	batch = make([]Packet, len(frames))
	for i, f := range frames {
		buf := make([]byte, headroom+len(f)+64)
		copy(buf[headroom:], f)
		batch[i] = Packet{Buf: buf, Off: headroom, Len: len(f), InPort: port}
	}
	h.w.Process(batch)
	for _, p := range append(batch, h.w.Extra()...) {
		if p.Verdict == VerdictTX {
			out = append(out, append([]byte(nil), p.Frame()...))
		}
	}
	return out, batch
}

// defrag reassembles the IPv4 fragments in frames (Ethernet, or Geneve
// when inner) with gopacket and returns the whole datagram's layers.
func defrag(t *testing.T, frames [][]byte, inner bool) (*layers.IPv4, *layers.UDP) {
	t.Helper()
	return defragN(t, frames, inner, datagramLen)
}

// defragN is defrag for a datagram of size bytes.
func defragN(t *testing.T, frames [][]byte, inner bool, size int) (*layers.IPv4, *layers.UDP) {
	t.Helper()
	d := ip4defrag.NewIPv4Defragmenter()
	for i, f := range frames {
		if inner {
			f = f[geneve.EncapLen:]
		}
		pk := seedtest.Decode(f)
		ip, ok := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			t.Fatalf("frame %d: no IPv4: %v", i, pk)
		}
		if len(f) != 14+int(ip.Length) {
			t.Fatalf("frame %d: %d bytes for IP total length %d", i, len(f), ip.Length)
		}
		seedtest.CheckChecksums(t, f)
		whole, err := d.DefragIPv4(ip)
		if err != nil {
			t.Fatalf("frame %d: defrag: %v", i, err)
		}
		if whole == nil {
			continue
		}
		if i != len(frames)-1 {
			t.Fatalf("datagram complete after %d of %d frames", i+1, len(frames))
		}
		pk = gopacket.NewPacket(whole.Payload, layers.LayerTypeUDP, gopacket.Default)
		udp, ok := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			t.Fatalf("reassembled datagram is no UDP: %v", pk)
		}
		// The UDP checksum over the whole reassembled datagram.
		hdr := make([]byte, 20)
		copy(hdr[12:], whole.SrcIP.To4())
		copy(hdr[16:], whole.DstIP.To4())
		ps := seedtest.PseudoSum(hdr, 17, len(whole.Payload))
		if udp.Checksum != 0 && seedtest.OnesSum(whole.Payload, ps) != 0xffff {
			t.Fatalf("reassembled UDP checksum %#04x does not verify", udp.Checksum)
		}
		if len(whole.Payload) != size {
			t.Fatalf("reassembled %d bytes, want %d", len(whole.Payload), size)
		}
		return whole, udp
	}
	t.Fatalf("datagram never completed (%d frames)", len(frames))
	return nil, nil
}

func order(fs [][]byte, idx ...int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = fs[j]
	}
	return out
}

// TestFragmentsSNAT: a 4000-byte UDP datagram from the VM, in 3
// fragments, leaves SNATed whole, in order and out of order, in one batch
// or one fragment per batch; the server's 4000-byte reply reaches the VM
// whole, un-SNATed, in Geneve.
func TestFragmentsSNAT(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order []int
		batch bool
	}{
		{"in-order", []int{0, 1, 2}, false},
		{"in-order-one-batch", []int{0, 1, 2}, true},
		{"last-first", []int{2, 1, 0}, false},
		{"middle-first-one-batch", []int{1, 0, 2}, true},
		{"first-last", []int{0, 2, 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
			run := func(port flow.Port, fs [][]byte) [][]byte {
				if tc.batch {
					out, _ := h.runBatch(port, fs...)
					return out
				}
				var out [][]byte
				for _, f := range fs {
					o, _ := h.runBatch(port, f)
					out = append(out, o...)
				}
				return out
			}
			out := run(flow.Underlay, order(egressFragments(t, 0x4242), tc.order...))
			if len(out) != 3 {
				t.Fatalf("%d frames out, want 3; stats %+v drops %v", len(out), h.pl.Stats().Fragments, h.pl.Stats().Drops)
			}
			ip, udp := defrag(t, out, false)
			if !ip.SrcIP.Equal(seedtest.SNAT) || !ip.DstIP.Equal(seedtest.Server) || udp.DstPort != 7 {
				t.Fatalf("egress %v:%d -> %v:%d, want %v -> %v:7", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, seedtest.SNAT, seedtest.Server)
			}
			for _, f := range out {
				if !bytes.Equal(f[0:6], seedtest.MACNextHop) || f[14+8] != 62 {
					t.Fatalf("egress fragment L2/TTL: dst %x ttl %d", f[0:6], f[14+8])
				}
			}
			back := run(flow.External, order(replyFragments(t, 0x5151, uint16(udp.SrcPort)), tc.order...))
			if len(back) != 3 {
				t.Fatalf("%d frames back, want 3; stats %+v", len(back), h.pl.Stats().Fragments)
			}
			for _, f := range back {
				checkGeneveToVM(t, f, 9, 0x00010002, 61)
			}
			ip, udp = defrag(t, back, true)
			if !ip.SrcIP.Equal(seedtest.Server) || !ip.DstIP.Equal(seedtest.VM) || udp.DstPort != 5000 || udp.SrcPort != 7 {
				t.Fatalf("reply %v:%d -> %v:%d, want %v:7 -> %v:5000", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, seedtest.Server, seedtest.VM)
			}
			// The Geneve source port (entropy) is the flow's, the same for
			// every fragment.
			for _, f := range back[1:] {
				if !bytes.Equal(f[34:36], back[0][34:36]) {
					t.Fatalf("outer source ports differ across fragments: %x vs %x", f[34:36], back[0][34:36])
				}
			}
			s := h.pl.Stats()
			wantHeld := uint64(0)
			if tc.order[0] != 0 {
				wantHeld = 2 * uint64(indexOf(tc.order, 0)) // both directions
			}
			if s.Fragments.Held != wantHeld || s.Fragments.Released != wantHeld || s.Fragments.Completed != 2 || s.Fragments.Datagrams != 0 {
				t.Fatalf("fragment stats %+v, want %d held and released, 2 completed", s.Fragments, wantHeld)
			}
			if s.Verdicts[VerdictHeld] != wantHeld {
				t.Fatalf("held verdicts %d, want %d", s.Verdicts[VerdictHeld], wantHeld)
			}
		})
	}
}

func indexOf(xs []int, x int) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// TestFragmentsDrainBeyondBatch: a datagram of 40 fragments whose first
// fragment arrives last, in one batch, releases 39 held fragments, more
// than one Process hands out (maxExtra). Drain hands out the rest at once,
// without another batch, and the table has none ready or held afterwards
// (their hold slots are free for new datagrams). Before Drain the rest
// waited for the next batch, holding their slots.
func TestFragmentsDrainBeyondBatch(t *testing.T) {
	const n, size = 40, 40 * 1480
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := udpFragmentsN(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, 5000, 7, 0x4343, 3, size)
	if len(fs) != n || n-1 <= maxExtra {
		t.Fatalf("%d fragments (maxExtra %d): the test needs more held than one batch releases", len(fs), maxExtra)
	}
	for i, f := range fs {
		fs[i] = seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, f)
	}
	arrival := append(append([][]byte(nil), fs[1:]...), fs[0]) // first fragment last
	out, _ := h.runBatch(flow.Underlay, arrival...)
	if len(out) >= n {
		t.Fatalf("%d out of one Process: maxExtra no longer bounds a batch, the test proves nothing", len(out))
	}
	drains := 0
	for {
		extra, more := h.w.Drain()
		for _, p := range extra {
			if p.Verdict == VerdictTX {
				out = append(out, append([]byte(nil), p.Frame()...))
			}
		}
		if len(extra) == 0 {
			if more {
				t.Fatalf("Drain returned nothing but says more are ready")
			}
			break
		}
		if drains++; drains > n {
			t.Fatalf("Drain never runs dry")
		}
	}
	s := h.pl.Stats()
	if len(out) != n {
		t.Fatalf("%d of %d fragments out after Process and %d Drains; table %+v drops %v", len(out), n, drains, s.Fragments, s.Drops)
	}
	if h.pl.frags.Ready() || s.Fragments.HeldNow != 0 {
		t.Fatalf("fragments still ready or held after Drain ran dry: %+v", s.Fragments)
	}
	if s.Verdicts[VerdictTX] != n {
		t.Fatalf("pipeline counted %d TX, want %d (stats published by Drain)", s.Verdicts[VerdictTX], n)
	}
	ip, udp := defragN(t, out, false, size)
	if !ip.SrcIP.Equal(seedtest.SNAT) || !ip.DstIP.Equal(seedtest.Server) || udp.DstPort != 7 {
		t.Fatalf("egress %v:%d -> %v:%d, want %v -> %v:7", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, seedtest.SNAT, seedtest.Server)
	}
	// Nothing is left to drain: an idle Drain returns nothing.
	if extra, more := h.w.Drain(); len(extra) != 0 || more {
		t.Fatalf("idle Drain: %d frames, more %v", len(extra), more)
	}
}

// TestFragmentOverlap: a fragment overlapping one already seen is dropped
// and counted, and poisons the rest of its datagram.
func TestFragmentOverlap(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := egressFragments(t, 7)
	if out, _ := h.runBatch(flow.Underlay, fs[0]); len(out) != 1 {
		t.Fatal("first fragment not forwarded")
	}
	// The second fragment moved back 8 bytes: overlaps the first.
	bad := append([]byte(nil), fs[1]...)
	inner := bad[geneve.EncapLen+14:]
	binary.BigEndian.PutUint16(inner[6:], 0x2000|(1480/8-1))
	inner[10], inner[11] = 0, 0
	binary.BigEndian.PutUint16(inner[10:], ^seedtest.OnesSum(inner[:20], 0))
	seedtest.FixOuterUDP(bad)
	out, b := h.runBatch(flow.Underlay, bad, fs[2])
	if len(out) != 0 || b[0].Reason != DropFragOverlap || b[1].Reason != DropFragOverlap {
		t.Fatalf("overlap: %d out, reasons %v %v", len(out), b[0].Reason, b[1].Reason)
	}
	s := h.pl.Stats()
	if s.Drops[DropFragOverlap] != 2 || s.Fragments.Overlap != 2 {
		t.Fatalf("drops %d, table %+v", s.Drops[DropFragOverlap], s.Fragments)
	}
}

// TestFragmentTimeout: a later fragment whose first never comes is held,
// then dropped and counted when its datagram times out; a first fragment
// after that releases nothing.
func TestFragmentTimeout(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := egressFragments(t, 9)
	_, b := h.runBatch(flow.Underlay, fs[1])
	if b[0].Verdict != VerdictHeld {
		t.Fatalf("later fragment: verdict %v reason %v, want held", b[0].Verdict, b[0].Reason)
	}
	h.now += int64(16 * time.Second)
	h.runBatch(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2}))
	s := h.pl.Stats()
	if s.Fragments.Timeout != 1 || s.Fragments.HeldNow != 0 {
		t.Fatalf("after the timeout: %+v", s.Fragments)
	}
	if out, _ := h.runBatch(flow.Underlay, fs[0]); len(out) != 1 {
		t.Fatalf("first fragment: %d frames out, want only itself", len(out))
	}
}

// TestFragmentFirstDropped: when the first fragment is dropped (an
// unsolicited reply: no connection), the held fragments are freed and
// later ones dropped, counted.
func TestFragmentFirstDropped(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := replyFragments(t, 3, 40000)
	_, b := h.runBatch(flow.External, fs[1], fs[0], fs[2])
	if b[0].Verdict != VerdictHeld || b[1].Reason != DropNoConn || b[2].Reason != DropFragment {
		t.Fatalf("verdicts %v/%v %v/%v %v/%v", b[0].Verdict, b[0].Reason, b[1].Verdict, b[1].Reason, b[2].Verdict, b[2].Reason)
	}
	if s := h.pl.Stats().Fragments; s.Failed != 2 || s.HeldNow != 0 || len(h.w.Extra()) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestFragmentLimits: too many fragments and a full hold pool are
// dropped, counted by reason.
func TestFragmentLimits(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	var err error
	if h.pl.frags, err = ipfrag.New(ipfrag.Config{MaxFragments: 2, MaxHeld: 1}); err != nil {
		t.Fatal(err)
	}
	a, c := egressFragments(t, 1), egressFragments(t, 2)
	_, b := h.runBatch(flow.Underlay, a[1], c[1])
	if b[0].Verdict != VerdictHeld || b[1].Reason != DropFragMemory {
		t.Fatalf("hold pool of 1: %v/%v, %v/%v", b[0].Verdict, b[0].Reason, b[1].Verdict, b[1].Reason)
	}
	out, b := h.runBatch(flow.Underlay, a[0], a[2])
	if len(out) != 2 || b[1].Reason != DropFragTooMany {
		t.Fatalf("MaxFragments 2: %d out, third %v/%v", len(out), b[1].Verdict, b[1].Reason)
	}
	s := h.pl.Stats()
	if s.Drops[DropFragMemory] != 1 || s.Drops[DropFragTooMany] != 1 || s.Fragments.NoMemory != 1 || s.Fragments.TooMany != 1 {
		t.Fatalf("drops %v, table %+v", s.Drops, s.Fragments)
	}
}

// TestFragmentsZeroAllocs: a fragmented datagram of a connection that
// exists allocates nothing, in order and with its first fragment last
// (held, then released).
func TestFragmentsZeroAllocs(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := egressFragments(t, 1)
	if out, _ := h.runBatch(flow.Underlay, fs...); len(out) != 3 {
		t.Fatalf("warm-up: %d out", len(out))
	}
	batch := make([]Packet, 3)
	bufs := make([][]byte, 3)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+2048)
	}
	id := uint16(100)
	for _, ord := range [][]int{{0, 1, 2}, {2, 1, 0}} {
		n := testing.AllocsPerRun(200, func() {
			id++
			for i, j := range ord {
				copy(bufs[i][headroom:], fs[j])
				setInnerID(bufs[i][headroom:], id)
				batch[i] = Packet{Buf: bufs[i], Off: headroom, Len: len(fs[j]), InPort: flow.Underlay}
			}
			h.w.Drain() // the engine's idle call: nothing ready
			h.w.Process(batch)
		})
		if n != 0 {
			t.Fatalf("order %v: %v allocs per datagram", ord, n)
		}
		tx := 0
		for _, p := range append(batch, h.w.Extra()...) {
			if p.Verdict == VerdictTX {
				tx++
			}
		}
		if tx != 3 {
			t.Fatalf("order %v: %d of 3 forwarded", ord, tx)
		}
	}
}

// setInnerID sets the inner IP id of a Geneve frame built by
// egressFragments, fixing the inner header and outer UDP checksums.
func setInnerID(f []byte, id uint16) {
	ip := f[geneve.EncapLen+14:]
	binary.BigEndian.PutUint16(ip[4:], id)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^seedtest.OnesSum(ip[:20], 0))
	f[40], f[41] = 0, 0 // outer UDP checksum: none
}

// TestTrimsLinkPadding: bytes after the IPv4 total length (Ethernet
// padding, or garbage) are not forwarded: an external frame's padding is
// not carried into the tunnel, and neither is an inner frame's out of
// it; the outer lengths count only what is sent.
func TestTrimsLinkPadding(t *testing.T) {
	for _, cache := range []bool{false, true} {
		h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
		if !cache {
			h.w.cache = nil
		}
		eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6000, DPort: 53, Payload: []byte("q")}
		rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 6000, Payload: []byte("a")}
		for i := range 3 { // the third pair takes the flow cache when on
			inner := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, eg)
			want := len(inner)
			inner = append(inner, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0)
			out := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, inner))
			if out.Verdict != VerdictTX || out.Len != want {
				t.Fatalf("cache=%v #%d egress: %v/%v, %d bytes, want %d", cache, i, out.Verdict, out.Reason, out.Len, want)
			}
			seedtest.CheckChecksums(t, out.Frame())
			in := seedtest.Reply(t, rp)
			want = len(in) + geneve.EncapLen
			in = append(in, make([]byte, 60-len(in))...) // padded to the Ethernet minimum
			in = append(in, 0xa5, 0xa5)                  // and garbage
			back := h.run(flow.External, in)
			if back.Verdict != VerdictTX || back.Len != want {
				t.Fatalf("cache=%v #%d ingress: %v/%v, %d bytes, want %d", cache, i, back.Verdict, back.Reason, back.Len, want)
			}
			checkGeneveToVM(t, back.Frame(), 9, 0x00010002, 61)
			seedtest.VerifyOuterUDP(t, back.Frame())
		}
		if cache && h.pl.Stats().CacheHits == 0 {
			t.Fatal("the flow cache never hit: its trimming is untested")
		}
	}
}

// FuzzFragments drives the pipeline with fragments of a UDP datagram in
// both directions, reordered, duplicated, with offsets, ids, flags and
// lengths changed and time moved, from the input. Every frame and every
// released fragment ends in one verdict, transmitted frames lie in their
// buffers, the hold pool stays bounded, and held fragments are released,
// still held, or counted as dropped.
func FuzzFragments(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 2, 0, 0})
	f.Add([]byte{2, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 5, 0, 0, 6, 0, 0})
	f.Add([]byte{1, 0, 0, 1, 1, 0xf0, 0, 0, 0, 2, 2, 1, 3, 200, 0})
	f.Add([]byte{0, 3, 7, 1, 4, 9, 2, 5, 1, 0x80, 0, 0})
	h := newHarness(f, seedtest.ConfigPath(), conntrack.Config{Capacity: 4096})
	var err error
	if h.pl.frags, err = ipfrag.New(ipfrag.Config{MaxDatagrams: 16, MaxFragments: 4, MaxHeld: 4, Timeout: time.Second}); err != nil {
		f.Fatal(err)
	}
	eg := egressFragments(f, 1)
	rp := replyFragments(f, 1, 5000)
	f.Fuzz(func(t *testing.T, in []byte) {
		for len(in) >= 3 {
			op, a, b := in[0], in[1], in[2]
			in = in[3:]
			if op&0x80 != 0 {
				h.now += int64(a) * int64(10*time.Millisecond)
				continue
			}
			src, port, inner := eg, flow.Underlay, geneve.EncapLen+14
			if op&0x40 != 0 {
				src, port, inner = rp, flow.External, 14
			}
			frame := append([]byte(nil), src[int(op&3)%3]...)
			ip := frame[inner:]
			switch op >> 2 & 7 {
			case 1: // another datagram
				binary.BigEndian.PutUint16(ip[4:], uint16(a)<<8|uint16(b))
			case 2: // another offset and MF
				binary.BigEndian.PutUint16(ip[6:], uint16(a&0x3f)<<8|uint16(b))
			case 3: // shorter
				if n := int(a) * 8; n < len(frame)-inner-28 {
					frame = frame[:len(frame)-n]
					binary.BigEndian.PutUint16(ip[2:], uint16(len(frame)-inner))
				}
			case 4: // garbage after the datagram
				frame = append(frame, a, b)
			}
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:], ^seedtest.OnesSum(ip[:20], 0))
			if port == flow.Underlay {
				// Lengths of the outer headers, no outer checksum.
				binary.BigEndian.PutUint16(frame[16:], uint16(len(frame)-14))
				frame[24], frame[25] = 0, 0
				binary.BigEndian.PutUint16(frame[24:], ^seedtest.OnesSum(frame[14:34], 0))
				binary.BigEndian.PutUint16(frame[38:], uint16(len(frame)-34))
				frame[40], frame[41] = 0, 0
			}
			_, batch := h.runBatch(port, frame)
			for _, p := range append(batch, h.w.Extra()...) {
				switch p.Verdict {
				case VerdictTX:
					if p.Off < 0 || p.Len < 14 || p.Off+p.Len > len(p.Buf) || p.OutPort >= flow.NumPorts {
						t.Fatalf("transmitted frame out of bounds: off %d len %d buf %d", p.Off, p.Len, len(p.Buf))
					}
				case VerdictDrop:
					if p.Reason == DropNone || p.Reason >= NumDrops {
						t.Fatalf("drop without a reason: %v", p.Reason)
					}
				case VerdictPass, VerdictHeld:
				default:
					t.Fatalf("no verdict: %v", p.Verdict)
				}
			}
			s := h.pl.Stats().Fragments
			if s.HeldNow > 4 || s.Datagrams > 16 {
				t.Fatalf("bounds: %+v", s)
			}
			if s.Held < s.Released+s.HeldNow {
				t.Fatalf("released or held more than was held: %+v", s)
			}
		}
	})
}

// BenchmarkFragmentedDatagram: one 4000-byte UDP datagram of an existing
// connection, as 3 fragments in one batch, per op: in order, and with
// its first fragment last (two held, then released). "whole" is three
// unfragmented datagrams of the same flow and sizes, for comparison; the
// flow cache is off and the outer UDP checksum absent for all three.
func BenchmarkFragmentedDatagram(b *testing.B) {
	h := newHarness(b, seedtest.ConfigPath(), conntrack.Config{})
	h.w.cache = nil
	fs := egressFragments(b, 1)
	if out, _ := h.runBatch(flow.Underlay, fs...); len(out) != 3 {
		b.Fatalf("warm-up: %d out", len(out))
	}
	var whole [][]byte
	for _, n := range []int{1472, 1480, 1040} {
		whole = append(whole, seedtest.Egress(b, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5000, DPort: 7, Payload: make([]byte, n)}))
	}
	batch := make([]Packet, 3)
	bufs := make([][]byte, 3)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+2048)
	}
	for _, bc := range []struct {
		name   string
		frames [][]byte
		order  []int
		frag   bool
	}{
		{"in-order", fs, []int{0, 1, 2}, true},
		{"first-last", fs, []int{2, 1, 0}, true},
		{"whole", whole, []int{0, 1, 2}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			id := uint16(0)
			for b.Loop() {
				id++
				for i, j := range bc.order {
					copy(bufs[i][headroom:], bc.frames[j])
					if bc.frag {
						setInnerID(bufs[i][headroom:], id)
					}
					bufs[i][headroom+40], bufs[i][headroom+41] = 0, 0 // no outer checksum to verify
					batch[i] = Packet{Buf: bufs[i], Off: headroom, Len: len(bc.frames[j]), InPort: flow.Underlay}
				}
				h.w.Process(batch)
			}
			tx := 0
			for _, p := range append(batch, h.w.Extra()...) {
				if p.Verdict == VerdictTX {
					tx++
				}
			}
			if tx != 3 {
				b.Fatalf("%d of 3 forwarded", tx)
			}
		})
	}
}
