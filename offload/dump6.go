package offload

import (
	"bufio"
	"cmp"
	"slices"
	"strconv"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// dumpFlows6 writes the IPv6 flows in the shape DumpFlows gives IPv4
// ones: with wantOff the entries of every Backend6, sorted (OVS's
// ipv6(...), set(ipv6(...)), dec_ttl for the hop limit, icmpv6(...));
// with wantSW the connections of ct6 that no Backend6 entry carries, one
// line per zone entry and direction, as the software pipeline forwards
// them. A backend's entries carry no conntrack handles (bpf.Backend's
// Conns are zero), so "carries" is by 5-tuple: a zone entry is offloaded
// when its original or its reply 5-tuple is an entry's key, as every zone
// entry of an offloaded connection has one side as the packet arrives (at
// the gateway's edges). Two tenants with the same 5-tuple on one side
// would hide each other's software entry; the lines stay correct.
func (m *Manager) dumpFlows6(bw *bufio.Writer, ct6 *conntrack.Table6, now int64, names *[flow.NumPorts]string, wantOff, wantSW bool) error {
	type line struct {
		a  flow.Action6
		c  Counters
		dp string
	}
	var lines []line
	inHW := map[tuple5]bool{}
	m.mu.Lock()
	for _, be := range m.bes {
		b6, ok := be.(Backend6)
		if !ok {
			continue
		}
		bNow := be.Now()
		err := b6.Iterate6(func(a *flow.Action6, c Counters) bool {
			k := &a.Key
			inHW[tuple5{k.Src, k.Dst, k.SrcPort, k.DstPort, k.Proto}] = true
			if wantOff {
				if c.Packets > 0 {
					c.LastSeen = convert(c.LastSeen, now, bNow)
				}
				lines = append(lines, line{*a, c, be.Name()})
			}
			return true
		})
		if err != nil {
			m.mu.Unlock()
			return err
		}
	}
	m.mu.Unlock()
	slices.SortFunc(lines, func(x, y line) int { return compareKeys6(&x.a.Key, &y.a.Key) })
	var b []byte
	for i := range lines {
		b = appendOffloaded6(b[:0], &lines[i].a, lines[i].c, lines[i].dp, now, names)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	if !wantSW || ct6 == nil {
		return nil
	}
	var conns []conntrack.ConnInfo6
	ct6.Range(func(ci conntrack.ConnInfo6) bool {
		o, r := &ci.Orig, &ci.Reply
		if !inHW[tuple5{o.Src, o.Dst, o.SrcPort, o.DstPort, o.Proto}] && !inHW[tuple5{r.Src, r.Dst, r.SrcPort, r.DstPort, r.Proto}] {
			conns = append(conns, ci)
		}
		return true
	})
	slices.SortFunc(conns, func(x, y conntrack.ConnInfo6) int { return compareTuples6(&x.Orig, &y.Orig) })
	for i := range conns {
		for _, d := range [2]conntrack.Dir{conntrack.DirOrig, conntrack.DirReply} {
			b = appendSoftware6(b[:0], &conns[i], d, now)
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// tuple5 is an IPv6 5-tuple, as a fast-path key and a conntrack tuple
// both have it.
type tuple5 struct {
	src, dst     packet.IP6
	sport, dport uint16
	proto        uint8
}

func compareTuples6(x, y *conntrack.Tuple6) int {
	return cmp.Or(
		cmp.Compare(x.Zone, y.Zone),
		cmp.Compare(x.Proto, y.Proto),
		x.Src.Compare(y.Src),
		x.Dst.Compare(y.Dst),
		cmp.Compare(x.SrcPort, y.SrcPort),
		cmp.Compare(x.DstPort, y.DstPort),
	)
}

// appendSoftware6 formats one direction of one IPv6 zone entry as
// appendSoftware does an IPv4 one (eth_type(0x86dd),ipv6(...),
// icmpv6(type=128|129,code=0) for echo).
func appendSoftware6(b []byte, ci *conntrack.ConnInfo6, d conntrack.Dir, now int64) []byte {
	t := &ci.Orig
	if d == conntrack.DirReply {
		t = &ci.Reply
	}
	b = appendSoftwareHead(b, t.Zone, ci.State, d)
	b = append(b, "eth_type(0x86dd),ipv6(src="...)
	b = append(b, t.Src.String()...)
	b = append(b, ",dst="...)
	b = append(b, t.Dst.String()...)
	b = append(b, ",proto="...)
	b = strconv.AppendUint(b, uint64(t.Proto), 10)
	b = append(b, ",frag=no)"...)
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		b = appendL4(b, t.Proto, ",", t.SrcPort, t.DstPort, true, true)
	case packet.ProtoICMPv6:
		typ := ci.ICMPType
		if d == conntrack.DirReply && typ == packet.ICMPv6EchoRequest {
			typ = packet.ICMPv6EchoReply
		}
		b = append(b, ",icmpv6(type="...)
		b = strconv.AppendUint(b, uint64(typ), 10)
		b = append(b, ",code=0)"...)
	}
	return appendSoftwareTail(b, ci.Packets[d], ci.Bytes[d], ci.LastSeen, now, t.Zone, ci.State)
}

func compareKeys6(x, y *flow.Key6) int {
	return cmp.Or(
		cmp.Compare(x.InPort, y.InPort),
		cmp.Compare(x.VNI, y.VNI),
		cmp.Compare(x.Proto, y.Proto),
		x.Src.Compare(y.Src),
		x.Dst.Compare(y.Dst),
		cmp.Compare(x.SrcPort, y.SrcPort),
		cmp.Compare(x.DstPort, y.DstPort),
	)
}

// appendOffloaded6 formats one IPv6 fast-path entry as appendOffloaded
// does an IPv4 one.
func appendOffloaded6(b []byte, a *flow.Action6, c Counters, dp string, now int64, names *[flow.NumPorts]string) []byte {
	k := &a.Key
	b = append(b, "in_port("...)
	b = append(b, portName(k.InPort, names)...)
	b = append(b, ')')
	if k.InPort == flow.Underlay {
		b = append(b, ",tunnel(tun_id=0x"...)
		b = strconv.AppendUint(b, uint64(k.VNI), 16)
		b = append(b, ",tp_dst="...)
		b = strconv.AppendUint(b, geneve.Port, 10)
		b = append(b, ",geneve({class=0x102,type=0x80,len=4}),flags(+key)),eth(dst="...)
		b = append(b, k.InnerDst.String()...)
		b = append(b, ')')
	}
	b = append(b, ",eth_type(0x86dd),ipv6(src="...)
	b = append(b, k.Src.String()...)
	b = append(b, ",dst="...)
	b = append(b, k.Dst.String()...)
	b = append(b, ",proto="...)
	b = strconv.AppendUint(b, uint64(k.Proto), 10)
	b = append(b, ",frag=no)"...)
	switch k.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		b = appendL4(b, k.Proto, ",", k.SrcPort, k.DstPort, true, true)
	case packet.ProtoICMPv6:
		typ := packet.ICMPv6EchoReply
		if a.Conns[1].Dir == conntrack.DirOrig {
			typ = packet.ICMPv6EchoRequest
		}
		b = append(b, ",icmpv6(type="...)
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
		var vni uint32
		var src, dst string
		var ttl uint8
		var sport uint16
		var opt uint32
		csum, df := true, false
		if a.Underlay6 {
			o := &a.Outer6
			vni, src, dst, ttl, sport, opt = o.VNI, "ipv6_src="+o.Src.String(), "ipv6_dst="+o.Dst.String(), o.HopLimit, o.SrcPort, geneve.OVNValue(o.InPort, o.OutPort)
		} else {
			o := &a.Outer
			vni, src, dst, ttl, sport, opt = o.VNI, "src="+o.Src.String(), "dst="+o.Dst.String(), o.TTL, o.SrcPort, geneve.OVNValue(o.InPort, o.OutPort)
			csum, df = o.Checksum, o.DF
		}
		if ttl == 0 {
			ttl = geneve.DefaultTTL
		}
		b = append(b, ",set(tunnel(tun_id=0x"...)
		b = strconv.AppendUint(b, uint64(vni), 16)
		b = append(b, ',')
		b = append(b, src...)
		b = append(b, ',')
		b = append(b, dst...)
		b = append(b, ",ttl="...)
		b = strconv.AppendUint(b, uint64(ttl), 10)
		b = append(b, ",tp_src="...)
		b = strconv.AppendUint(b, uint64(sport), 10)
		b = append(b, ",tp_dst="...)
		b = strconv.AppendUint(b, geneve.Port, 10)
		b = append(b, ",geneve({class=0x102,type=0x80,len=4,0x"...)
		b = strconv.AppendUint(b, uint64(opt), 16)
		b = append(b, "}),flags("...)
		if df {
			b = append(b, "df|"...)
		}
		if csum {
			b = append(b, "csum|"...)
		}
		b = append(b, "key)))"...)
	}
	return rewrite[packet.IP6]{l3: "ipv6", icmp: packet.ProtoICMPv6, ethSrc: a.EthSrc, ethDst: a.EthDst,
		src: k.Src, dst: k.Dst, natSrc: a.NATSrc, natDst: a.NATDst, dec: a.HopDec, proto: k.Proto,
		sport: k.SrcPort, dport: k.DstPort, natSport: a.NATSrcPort, natDport: a.NATDstPort, out: a.OutPort}.append(b, names)
}
