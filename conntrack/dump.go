package conntrack

import (
	"bufio"
	"bytes"
	"cmp"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/xgw-dev/xgw/packet"
)

// DumpOptions select what Dump prints.
type DumpOptions struct {
	Zone    int   // only this zone; -1 for all
	Verbose bool  // like `dump-conntrack -s`: counters, timeout, TCP state
	Now     int64 // clock for timeout=; 0: the latest time the table has seen
}

// Dump writes one line per connection in the format of
// `ovs-appctl dpctl/dump-conntrack` (ct-dpif.c, ct_dpif_format_entry), so
// that xgw and OVS gateways can be diffed. Lines are sorted by zone and
// then by orig tuple to keep output stable.
func (t *table[T]) Dump(w io.Writer, opts DumpOptions) error {
	now := opts.Now
	if now == 0 {
		now = t.lastNow()
	}
	bw := bufio.NewWriter(w)
	if err := writeConns[T, T](bw, t.collect(opts.Zone), nil, opts.Verbose, now); err != nil {
		return err
	}
	return bw.Flush()
}

// Tables are a gateway's IPv4 and IPv6 connection tables, read together:
// one dump, one count per zone. Either may be nil.
type Tables struct {
	V4 *Table
	V6 *Table6
}

// Dump writes both tables' connections as Table.Dump does, in one
// listing sorted by zone; within a zone IPv4 lines come first. The zone
// filter applies to both families, as `dpctl/dump-conntrack zone=N` does.
func (ts Tables) Dump(w io.Writer, opts DumpOptions) error {
	now := opts.Now
	var c4 []ConnInfo
	var c6 []ConnInfo6
	if ts.V4 != nil {
		c4 = ts.V4.collect(opts.Zone)
		if now == 0 {
			now = ts.V4.lastNow()
		}
	}
	if ts.V6 != nil {
		c6 = ts.V6.collect(opts.Zone)
		if opts.Now == 0 {
			now = max(now, ts.V6.lastNow())
		}
	}
	bw := bufio.NewWriter(w)
	if err := writeConns(bw, c4, c6, opts.Verbose, now); err != nil {
		return err
	}
	return bw.Flush()
}

// ZoneCounts adds the live connections of each zone, both families, to m.
func (ts Tables) ZoneCounts(m map[uint16]int) {
	if ts.V4 != nil {
		ts.V4.Range(func(ci ConnInfo) bool { m[ci.Orig.Zone]++; return true })
	}
	if ts.V6 != nil {
		ts.V6.Range(func(ci ConnInfo6) bool { m[ci.Orig.Zone]++; return true })
	}
}

// collect returns the connections of zone (-1: all), sorted by zone and
// then by orig tuple to keep output stable.
func (t *table[T]) collect(zone int) []connInfo[T] {
	var conns []connInfo[T]
	t.Range(func(ci connInfo[T]) bool {
		if zone < 0 || int(tailOf(&ci.Orig).Zone) == zone {
			conns = append(conns, ci)
		}
		return true
	})
	slices.SortFunc(conns, func(a, b connInfo[T]) int {
		ta, tb := tailOf(&a.Orig), tailOf(&b.Orig)
		sa, da := addrs(&a.Orig)
		sb, db := addrs(&b.Orig)
		return cmp.Or(
			cmp.Compare(ta.Zone, tb.Zone),
			cmp.Compare(ta.Proto, tb.Proto),
			bytes.Compare(sa, sb),
			bytes.Compare(da, db),
			cmp.Compare(ta.SrcPort, tb.SrcPort),
			cmp.Compare(ta.DstPort, tb.DstPort),
		)
	})
	return conns
}

// writeConns writes c4 and c6, each sorted by collect, merged by zone
// (c4's first within a zone).
func writeConns[A, B tupleKey](bw *bufio.Writer, c4 []connInfo[A], c6 []connInfo[B], verbose bool, now int64) error {
	var line []byte
	for len(c4) > 0 || len(c6) > 0 {
		if len(c6) == 0 || (len(c4) > 0 && tailOf(&c4[0].Orig).Zone <= tailOf(&c6[0].Orig).Zone) {
			line = appendConn(line[:0], &c4[0], verbose, now)
			c4 = c4[1:]
		} else {
			line = appendConn(line[:0], &c6[0], verbose, now)
			c6 = c6[1:]
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// appendConn formats one entry: proto, orig=(...), reply=(...), then
// zone (if non-zero), timeout (verbose), mark (if non-zero) and the TCP
// protoinfo (verbose), in ct_dpif_format_entry's order.
func appendConn[T tupleKey](b []byte, ci *connInfo[T], verbose bool, now int64) []byte {
	o := tailOf(&ci.Orig)
	switch o.Proto {
	case packet.ProtoICMP:
		b = append(b, "icmp"...)
	case packet.ProtoICMPv6:
		b = append(b, "icmpv6"...)
	case packet.ProtoTCP:
		b = append(b, "tcp"...)
	case packet.ProtoUDP:
		b = append(b, "udp"...)
	default:
		b = strconv.AppendUint(b, uint64(o.Proto), 10)
	}
	b = append(b, ",orig=("...)
	b = appendTuple(b, &ci.Orig, ci.ICMPType)
	if verbose {
		b = appendCounters(b, ci.Packets[DirOrig], ci.Bytes[DirOrig])
	}
	b = append(b, "),reply=("...)
	b = appendTuple(b, &ci.Reply, icmpReplyType(ci.ICMPType))
	if verbose {
		b = appendCounters(b, ci.Packets[DirReply], ci.Bytes[DirReply])
	}
	b = append(b, ')')
	if o.Zone != 0 {
		b = append(b, ",zone="...)
		b = strconv.AppendUint(b, uint64(o.Zone), 10)
	}
	if verbose {
		b = appendStatus(b, ci.State)
		b = append(b, ",timeout="...)
		b = strconv.AppendInt(b, max(0, (ci.Expires-now)/int64(time.Second)), 10)
	}
	if ci.Mark != 0 {
		b = append(b, ",mark="...)
		b = strconv.AppendUint(b, uint64(ci.Mark), 10)
	}
	if verbose && o.Proto == packet.ProtoTCP {
		b = append(b, ",protoinfo=(state="...)
		b = append(b, ci.TCP.String()...)
		b = append(b, ')')
	}
	return b
}

func appendTuple[T tupleKey](b []byte, k *T, icmpType uint8) []byte {
	src, dst := addrs(k)
	t := tailOf(k)
	b = append(b, "src="...)
	b = appendIP(b, src)
	b = append(b, ",dst="...)
	b = appendIP(b, dst)
	if t.Proto == packet.ProtoICMP || t.Proto == packet.ProtoICMPv6 {
		b = append(b, ",id="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, ",type="...)
		b = strconv.AppendUint(b, uint64(icmpType), 10)
		return append(b, ",code=0"...)
	}
	b = append(b, ",sport="...)
	b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
	b = append(b, ",dport="...)
	return strconv.AppendUint(b, uint64(t.DstPort), 10)
}

// appendIP formats an IPv4 address dotted, an IPv6 one as inet_ntop does
// (OVS's ipv6_format_addr): RFC 5952, v4-mapped as ::ffff:a.b.c.d.
func appendIP(b []byte, ip []byte) []byte {
	if len(ip) == 16 {
		return netip.AddrFrom16([16]byte(ip)).AppendTo(b)
	}
	for i, o := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(o), 10)
	}
	return b
}

// appendCounters prints packets and bytes as OVS does: only when non-zero.
func appendCounters(b []byte, packets, bytes uint64) []byte {
	if packets == 0 && bytes == 0 {
		return b
	}
	b = append(b, ",packets="...)
	b = strconv.AppendUint(b, packets, 10)
	b = append(b, ",bytes="...)
	return strconv.AppendUint(b, bytes, 10)
}

// appendStatus writes the connection's status as OVS prints the kernel's
// (ct_dpif_format_status): CONFIRMED for every committed connection,
// SEEN_REPLY once a reply was seen (a one-way flow never gets it), and the
// NAT bits. It is how a dump tells "+new" flows from established ones.
func appendStatus(b []byte, s State) []byte {
	b = append(b, ",status="...)
	if s&Established != 0 {
		b = append(b, "SEEN_REPLY|"...)
	}
	b = append(b, "CONFIRMED"...)
	if s&SrcNAT != 0 {
		b = append(b, "|SRC_NAT|SRC_NAT_DONE"...)
	}
	if s&DstNAT != 0 {
		b = append(b, "|DST_NAT|DST_NAT_DONE"...)
	}
	return b
}
