package offload

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// DumpOptions select what DumpFlows prints.
type DumpOptions struct {
	// Type is "" (all), "offloaded" or "software", as in
	// `ovs-appctl dpctl/dump-flows type=...`.
	Type string
	// Now is the conntrack clock for used:; 0 reads Config.Clock.
	Now int64
	// PortNames name the output ports (interface names); empty ones print
	// as "underlay" and "external".
	PortNames [flow.NumPorts]string
	// Conntrack6 is the IPv6 connection table whose connections the
	// software part lists (those no Backend6 entry carries); nil: none.
	Conntrack6 *conntrack.Table6
}

// DumpFlows writes one line per direction, in the shape of
// `ovs-appctl dpctl/dump-flows -m type=offloaded`, so that the dumps of an
// OVS gateway and of xgw can be read side by side:
//
//   - offloaded flows ("offloaded:yes, dp:xdp") show the fast-path match
//     (in_port, tunnel and inner MAC for Geneve, the 5-tuple), the fast
//     path's counters and last use, and what XDP does to the packet spelled
//     as OVS actions: one fused flow where OVS needs a recirculation per
//     conntrack zone;
//   - every other connection ("offloaded:no, dp:software") shows one line
//     per zone entry and direction, with conntrack's counters: what the
//     software pipeline forwards, as OVS's per-zone recirculation flows.
//
// Each part lists IPv4 flows first, then IPv6 ones (eth_type(0x86dd),
// ipv6(...)): the IPv6 fast-path entries of every Backend6, and the
// IPv6 connections of opts.Conntrack6 that none of them carries.
//
// Lines are sorted, so dumps diff cleanly.
func (m *Manager) DumpFlows(w io.Writer, opts DumpOptions) error {
	wantOff := opts.Type == "" || opts.Type == "offloaded"
	wantSW := opts.Type == "" || opts.Type == "software"
	if !wantOff && !wantSW {
		return fmt.Errorf("offload: unknown flow type %q (want offloaded or software)", opts.Type)
	}
	type line struct {
		a  *flow.Action
		c  Counters
		dp string // the backend's name
	}
	var lines []line
	inHW := map[conntrack.Handle]bool{}

	m.mu.Lock()
	now := opts.Now
	if now == 0 {
		now = m.cfg.Clock()
	}
	flows := make([]*tracked, 0, len(m.offloaded))
	for _, f := range m.offloaded {
		if f.v6 != nil {
			continue // dumpFlows6 lists the Backend6 entries
		}
		flows = append(flows, f)
		for _, c := range f.fwd.Conns {
			inHW[c.Handle] = true
		}
	}
	if wantOff && len(flows) > 0 {
		slices.SortStableFunc(flows, func(a, b *tracked) int { return a.be - b.be })
		acts := make([]flow.Action, 0, 2*len(flows))
		for _, f := range flows {
			acts = append(acts, f.fwd, f.rev)
		}
		cs := make([]Counters, len(acts))
		found := make([]bool, len(acts))
		m.readAll4(flows, cs, found)
		bNow := make([]int64, len(m.bes))
		for bi, b := range m.bes {
			bNow[bi] = b.Now()
		}
		for i := range acts {
			c, be := cs[i], flows[i/2].be
			if c.Packets > 0 {
				c.LastSeen = convert(c.LastSeen, now, bNow[be])
			}
			lines = append(lines, line{&acts[i], c, m.bes[be].Name()})
		}
	}
	m.mu.Unlock()

	bw := bufio.NewWriter(w)
	var b []byte
	if wantOff {
		slices.SortFunc(lines, func(x, y line) int { return compareKeys(&x.a.Key, &y.a.Key) })
		for _, l := range lines {
			b = appendOffloaded(b[:0], l.a, l.c, l.dp, now, &opts.PortNames)
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	if wantOff {
		if err := m.dumpFlows6(bw, nil, now, &opts.PortNames, true, false); err != nil {
			return err
		}
	}
	if wantSW {
		var conns []conntrack.ConnInfo
		m.ct.Range(func(ci conntrack.ConnInfo) bool {
			if !inHW[ci.Handle] {
				conns = append(conns, ci)
			}
			return true
		})
		slices.SortFunc(conns, func(x, y conntrack.ConnInfo) int { return compareTuples(&x.Orig, &y.Orig) })
		for i := range conns {
			for _, d := range [2]conntrack.Dir{conntrack.DirOrig, conntrack.DirReply} {
				b = appendSoftware(b[:0], &conns[i], d, now)
				if _, err := bw.Write(b); err != nil {
					return err
				}
			}
		}
		if err := m.dumpFlows6(bw, opts.Conntrack6, now, &opts.PortNames, false, true); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func compareKeys(x, y *flow.Key) int {
	return cmp.Or(
		cmp.Compare(x.InPort, y.InPort),
		cmp.Compare(x.VNI, y.VNI),
		cmp.Compare(x.Proto, y.Proto),
		cmp.Compare(x.Src.Uint32(), y.Src.Uint32()),
		cmp.Compare(x.Dst.Uint32(), y.Dst.Uint32()),
		cmp.Compare(x.SrcPort, y.SrcPort),
		cmp.Compare(x.DstPort, y.DstPort),
	)
}

func compareTuples(x, y *conntrack.Tuple) int {
	return cmp.Or(
		cmp.Compare(x.Zone, y.Zone),
		cmp.Compare(x.Proto, y.Proto),
		cmp.Compare(x.Src.Uint32(), y.Src.Uint32()),
		cmp.Compare(x.Dst.Uint32(), y.Dst.Uint32()),
		cmp.Compare(x.SrcPort, y.SrcPort),
		cmp.Compare(x.DstPort, y.DstPort),
	)
}

// appendOffloaded formats one fast-path entry.
func appendOffloaded(b []byte, a *flow.Action, c Counters, dp string, now int64, names *[flow.NumPorts]string) []byte {
	k := &a.Key
	b = append(b, "in_port("...)
	b = append(b, portName(k.InPort, names)...)
	b = append(b, ')')
	if k.InPort == flow.Underlay {
		// The fast path matches the VNI and the inner destination MAC (they
		// select the gateway router); the OVN option is carried, not matched.
		b = append(b, ",tunnel(tun_id=0x"...)
		b = strconv.AppendUint(b, uint64(k.VNI), 16)
		b = append(b, ",tp_dst="...)
		b = strconv.AppendUint(b, geneve.Port, 10)
		b = append(b, ",geneve({class=0x102,type=0x80,len=4}),flags(+key)),eth(dst="...)
		b = append(b, k.InnerDst.String()...)
		b = append(b, ')')
	}
	b = append(b, ",eth_type(0x0800),ipv4(src="...)
	b = append(b, k.Src.String()...)
	b = append(b, ",dst="...)
	b = append(b, k.Dst.String()...)
	b = append(b, ",proto="...)
	b = strconv.AppendUint(b, uint64(k.Proto), 10)
	b = append(b, ",frag=no)"...)
	switch k.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		b = appendL4(b, k.Proto, ",", k.SrcPort, k.DstPort, true, true)
	case packet.ProtoICMP:
		typ := 0 // echo reply
		if a.Conns[1].Dir == conntrack.DirOrig {
			typ = packet.ICMPEchoRequest
		}
		b = append(b, ",icmp(type="...)
		b = strconv.AppendInt(b, int64(typ), 10)
		b = append(b, ",code=0),icmp_id("...)
		b = strconv.AppendUint(b, uint64(k.SrcPort), 10)
		b = append(b, ')')
	}
	b = appendCounters(b, c.Packets, c.Bytes, c.LastSeen, now)
	b = append(b, ", offloaded:yes, dp:"...)
	b = append(b, dp...)
	b = append(b, ", actions:ct_clear"...)
	if a.Encap {
		o := &a.Outer
		ttl := o.TTL
		if ttl == 0 {
			ttl = geneve.DefaultTTL
		}
		b = append(b, ",set(tunnel(tun_id=0x"...)
		b = strconv.AppendUint(b, uint64(o.VNI), 16)
		b = append(b, ",src="...)
		b = append(b, o.Src.String()...)
		b = append(b, ",dst="...)
		b = append(b, o.Dst.String()...)
		b = append(b, ",ttl="...)
		b = strconv.AppendUint(b, uint64(ttl), 10)
		b = append(b, ",tp_src="...)
		b = strconv.AppendUint(b, uint64(o.SrcPort), 10)
		b = append(b, ",tp_dst="...)
		b = strconv.AppendUint(b, geneve.Port, 10)
		b = append(b, ",geneve({class=0x102,type=0x80,len=4,0x"...)
		b = strconv.AppendUint(b, uint64(geneve.OVNValue(o.InPort, o.OutPort)), 16)
		b = append(b, "}),flags("...)
		if o.DF {
			b = append(b, "df|"...)
		}
		if o.Checksum {
			b = append(b, "csum|"...)
		}
		b = append(b, "key)))"...)
	}
	return rewrite[packet.IP4]{l3: "ipv4", icmp: packet.ProtoICMP, ethSrc: a.EthSrc, ethDst: a.EthDst,
		src: k.Src, dst: k.Dst, natSrc: a.NATSrc, natDst: a.NATDst, dec: a.TTLDec, proto: k.Proto,
		sport: k.SrcPort, dport: k.DstPort, natSport: a.NATSrcPort, natDport: a.NATDstPort, out: a.OutPort}.append(b, names)
}

// rewrite is what an offloaded flow's action does after the tunnel, in
// either family (A is packet.IP4 or packet.IP6), as dump-flows shows it.
type rewrite[A interface {
	comparable
	String() string
}] struct {
	l3                               string // ipv4, ipv6
	icmp, proto, dec                 uint8  // the family's ICMP, the key's protocol, router hops
	ethSrc, ethDst                   packet.MAC
	src, dst, natSrc, natDst         A
	sport, dport, natSport, natDport uint16
	out                              flow.Port
}

// append writes set(eth), set(ipv4|ipv6) when an address changes,
// dec_ttl, the port or echo-id rewrite and the output port.
func (r rewrite[A]) append(b []byte, names *[flow.NumPorts]string) []byte {
	b = append(b, ",set(eth(src="...)
	b = append(b, r.ethSrc.String()...)
	b = append(b, ",dst="...)
	b = append(b, r.ethDst.String()...)
	b = append(b, "))"...)
	if r.natSrc != r.src || r.natDst != r.dst {
		b = append(b, ",set("...)
		b = append(b, r.l3...)
		b = append(b, '(')
		sep := ""
		if r.natSrc != r.src {
			b = append(b, "src="...)
			b = append(b, r.natSrc.String()...)
			sep = ","
		}
		if r.natDst != r.dst {
			b = append(b, sep...)
			b = append(b, "dst="...)
			b = append(b, r.natDst.String()...)
		}
		b = append(b, "))"...)
	}
	if r.dec > 0 {
		// The fast path punts packets whose TTL (hop limit) would reach
		// zero, as the kernel datapath's dec_ttl(le_1(...)) does; N is
		// the router hops.
		b = append(b, ",dec_ttl("...)
		b = strconv.AppendUint(b, uint64(r.dec), 10)
		b = append(b, ')')
	}
	sport, dport := r.natSport != r.sport, r.natDport != r.dport
	switch {
	case r.proto == r.icmp && sport:
		b = append(b, ",set(icmp_id("...)
		b = strconv.AppendUint(b, uint64(r.natSport), 10)
		b = append(b, "))"...)
	case r.proto != r.icmp && (sport || dport):
		b = append(b, ",set("...)
		b = appendL4(b, r.proto, "", r.natSport, r.natDport, sport, dport)
		b = append(b, ')')
	}
	b = append(b, ',')
	b = append(b, portName(r.out, names)...)
	return append(b, '\n')
}

// appendL4 writes tcp(src=..,dst=..) or udp(...), either field optional.
func appendL4(b []byte, proto uint8, lead string, src, dst uint16, withSrc, withDst bool) []byte {
	b = append(b, lead...)
	if proto == packet.ProtoTCP {
		b = append(b, "tcp("...)
	} else {
		b = append(b, "udp("...)
	}
	if withSrc {
		b = append(b, "src="...)
		b = strconv.AppendUint(b, uint64(src), 10)
	}
	if withDst {
		if withSrc {
			b = append(b, ',')
		}
		b = append(b, "dst="...)
		b = strconv.AppendUint(b, uint64(dst), 10)
	}
	return append(b, ')')
}

// appendCounters writes ", packets:N, bytes:N, used:S" as OVS does.
func appendCounters(b []byte, packets, bytes uint64, last, now int64) []byte {
	b = append(b, ", packets:"...)
	b = strconv.AppendUint(b, packets, 10)
	b = append(b, ", bytes:"...)
	b = strconv.AppendUint(b, bytes, 10)
	b = append(b, ", used:"...)
	if packets == 0 {
		return append(b, "never"...)
	}
	b = strconv.AppendFloat(b, max(0, time.Duration(now-last).Seconds()), 'f', 3, 64)
	return append(b, 's')
}

func portName(p flow.Port, names *[flow.NumPorts]string) string {
	if p < flow.NumPorts && names[p] != "" {
		return names[p]
	}
	return p.String()
}

// appendSoftware formats one direction of one zone entry that the
// software pipeline forwards.
func appendSoftware(b []byte, ci *conntrack.ConnInfo, d conntrack.Dir, now int64) []byte {
	t := &ci.Orig
	if d == conntrack.DirReply {
		t = &ci.Reply
	}
	b = appendSoftwareHead(b, t.Zone, ci.State, d)
	b = append(b, "eth_type(0x0800),ipv4(src="...)
	b = append(b, t.Src.String()...)
	b = append(b, ",dst="...)
	b = append(b, t.Dst.String()...)
	b = append(b, ",proto="...)
	b = strconv.AppendUint(b, uint64(t.Proto), 10)
	b = append(b, ",frag=no)"...)
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		b = appendL4(b, t.Proto, ",", t.SrcPort, t.DstPort, true, true)
	case packet.ProtoICMP:
		typ := ci.ICMPType
		if d == conntrack.DirReply && typ == packet.ICMPEchoRequest {
			typ = 0
		}
		b = append(b, ",icmp(type="...)
		b = strconv.AppendUint(b, uint64(typ), 10)
		b = append(b, ",code=0)"...)
	}
	return appendSoftwareTail(b, ci.Packets[d], ci.Bytes[d], ci.LastSeen, now, t.Zone, ci.State)
}

// appendSoftwareHead writes the recirculation match OVS prints for a zone
// entry: ct_zone(N),ct_state(...), and the comma before the packet match.
func appendSoftwareHead(b []byte, zone uint16, state conntrack.State, d conntrack.Dir) []byte {
	state |= conntrack.Tracked
	if d == conntrack.DirReply {
		state |= conntrack.ReplyDir
	}
	b = append(b, "ct_zone("...)
	b = strconv.AppendUint(b, uint64(zone), 10)
	b = append(b, "),ct_state("...)
	b = append(b, state.String()...)
	return append(b, "),"...)
}

// appendSoftwareTail writes a zone entry's counters and its action.
// Conntrack keeps one last-seen time per connection; both directions
// show it.
func appendSoftwareTail(b []byte, packets, bytes uint64, last, now int64, zone uint16, state conntrack.State) []byte {
	b = appendCounters(b, packets, bytes, last, now)
	b = append(b, ", offloaded:no, dp:software, actions:ct(zone="...)
	b = strconv.AppendUint(b, uint64(zone), 10)
	if state&(conntrack.SrcNAT|conntrack.DstNAT) != 0 {
		b = append(b, ",nat"...)
	}
	return append(b, ")\n"...)
}
