package control

import (
	"bufio"
	"io"
	"strconv"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
)

// Conntrack is what the server reads from the connection table;
// *conntrack.Table is one.
type Conntrack interface {
	Dump(w io.Writer, opts conntrack.DumpOptions) error
	Range(fn func(conntrack.ConnInfo) bool)
}

// writeFlows prints every connection as two flows (one per direction) in
// the shape of `ovs-appctl dpctl/dump-flows -m`, so that the output reads
// like the OVS gateway's it replaces. Until the offload manager exists
// every flow is honestly "offloaded:no, dp:software": it is conntrack's
// view of what the software pipeline forwards. now is in the pipeline's
// clock (nanoseconds).
func writeFlows(w io.Writer, ct Conntrack, now int64) error {
	bw := bufio.NewWriter(w)
	var line []byte
	var err error
	ct.Range(func(ci conntrack.ConnInfo) bool {
		for _, dir := range []conntrack.Dir{conntrack.DirOrig, conntrack.DirReply} {
			line = appendFlow(line[:0], &ci, dir, now)
			if _, err = bw.Write(line); err != nil {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func appendFlow(b []byte, ci *conntrack.ConnInfo, dir conntrack.Dir, now int64) []byte {
	t := &ci.Orig
	state := ci.State | conntrack.Tracked
	if dir == conntrack.DirReply {
		t = &ci.Reply
		state |= conntrack.ReplyDir
	}
	b = append(b, "ct_zone("...)
	b = strconv.AppendUint(b, uint64(t.Zone), 10)
	b = append(b, "),ct_state("...)
	b = append(b, state.String()...)
	b = append(b, "),eth_type(0x0800),ipv4(src="...)
	b = append(b, t.Src.String()...)
	b = append(b, ",dst="...)
	b = append(b, t.Dst.String()...)
	b = append(b, ",proto="...)
	b = strconv.AppendUint(b, uint64(t.Proto), 10)
	b = append(b, ')')
	switch t.Proto {
	case 6, 17:
		if t.Proto == 6 {
			b = append(b, ",tcp(src="...)
		} else {
			b = append(b, ",udp(src="...)
		}
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, ",dst="...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
		b = append(b, ')')
	case 1:
		typ := ci.ICMPType
		if dir == conntrack.DirReply && typ == 8 {
			typ = 0 // echo reply
		}
		b = append(b, ",icmp(type="...)
		b = strconv.AppendUint(b, uint64(typ), 10)
		b = append(b, ",code=0)"...)
	}
	b = append(b, ", packets:"...)
	b = strconv.AppendUint(b, ci.Packets[dir], 10)
	b = append(b, ", bytes:"...)
	b = strconv.AppendUint(b, ci.Bytes[dir], 10)
	b = append(b, ", used:"...)
	if ci.Packets[dir] == 0 {
		b = append(b, "never"...)
	} else {
		// Conntrack keeps one last-seen time per connection, not per
		// direction; both flows show it.
		b = strconv.AppendFloat(b, max(0, time.Duration(now-ci.LastSeen).Seconds()), 'f', 3, 64)
		b = append(b, 's')
	}
	b = append(b, ", offloaded:no, dp:software, actions:ct(zone="...)
	b = strconv.AppendUint(b, uint64(t.Zone), 10)
	if ci.State&(conntrack.SrcNAT|conntrack.DstNAT) != 0 {
		b = append(b, ",nat"...)
	}
	return append(b, ")\n"...)
}
