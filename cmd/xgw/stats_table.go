package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/ovn"
)

// writeStats renders the stats document as aligned tables for a person.
func writeStats(w io.Writer, s *control.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := &s.Pipeline
	fmt.Fprintf(tw, "xgw %s, up %.0fs\n\n", s.Version, s.Uptime)

	fmt.Fprintln(tw, "PIPELINE\ttx\tdrop\tpass\theld\tegress\tingress\thairpin\tarp replies geneve/external\ticmp sent\theld then sent")
	fmt.Fprintf(tw, "\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%d\t%d\n\n", p.Verdicts["tx"], p.Verdicts["drop"], p.Verdicts["pass"], p.Verdicts["held"],
		p.Egress, p.Ingress, p.Hairpin, p.ARPReply, p.ARPReplyExternal, p.ICMPOut, p.HoldSent)

	// Only where endpoint-independent mapping is in use.
	if m := &s.NATMappings; m.Created > 0 || m.Full > 0 || m.Conflicts > 0 {
		fmt.Fprintln(tw, "NAT MAPPINGS\tlive\tcapacity\tcreated\treused\treleased\tfull\tconflicts")
		fmt.Fprintf(tw, "\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n\n", m.Live, m.Capacity, m.Created, m.Reused, m.Released, m.Full, m.Conflicts)
	}

	var frags uint64
	for _, n := range p.Fragments {
		frags += n
	}
	if frags > 0 { // only where fragments were seen
		f := p.Fragments
		fmt.Fprintln(tw, "FRAGMENTS\ttranslated\theld\treleased\tdatagrams done\ttimed out\tfirst dropped\theld now")
		fmt.Fprintf(tw, "\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n\n", f["known"], f["held"], f["released"], f["completed"],
			f["drop-timeout"], f["drop-first-dropped"], p.FragmentsHeldNow)
	}

	fmt.Fprintln(tw, "FORWARDED\tegress\tegress bytes\tingress\tingress bytes\thairpin")
	for _, fam := range []string{"ipv4", "ipv6"} {
		f := p.Forwarded[fam]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", fam, f["egress"].Packets, f["egress"].Bytes, f["ingress"].Packets, f["ingress"].Bytes, f["hairpin"].Packets)
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "SIDE\trx\ttx")
	for _, side := range []string{"underlay", "external"} {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", side, p.RX[side], p.TX[side])
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "DROP REASON\tpackets")
	reasons := make([]string, 0, len(p.Drops))
	for r, n := range p.Drops {
		if n > 0 {
			reasons = append(reasons, r)
		}
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		fmt.Fprintf(tw, "%s\t%d\n", r, p.Drops[r])
	}
	if len(reasons) == 0 {
		fmt.Fprintln(tw, "(none)\t")
	}
	fmt.Fprintln(tw)

	e := &s.Engine
	fmt.Fprintln(tw, "ENGINE\tframes\tbatches\ttx in place\ttx copied\tring full\tno frame\ttoo big\tpass-after-redirect\terrors")
	fmt.Fprintf(tw, "\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n\n", e.Frames, e.Batches, e.TxInPlace, e.TxCopied,
		e.TxRingFull, e.TxNoFrame, e.TxTooBig, e.PassAfterRedirect, e.Errors)

	fmt.Fprintln(tw, "AF_XDP SOCKET\tqueue\trx\ttx\ttx done\trx dropped\trx ring full\tfill empty\tinvalid descs")
	for _, ps := range s.Ports {
		a := &ps.Stats
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", ps.Interface, ps.Queue, a.RxPackets, a.TxPackets,
			a.TxCompleted, a.RxDropped, a.RxRingFull, a.FillRingEmpty, a.RxInvalidDescs+a.TxInvalidDescs)
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "XDP\tto xgw (geneve)\tto xgw (nat)\tto xgw (arp)\tto xgw (nd)\tto xgw (routed6)\tpassed\tpassed (host addr)\tno socket\tmalformed")
	for _, x := range s.XDP {
		st := &x.Stats
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", x.Interface, st.RedirectGeneve.Packets, st.RedirectNAT.Packets,
			st.RedirectARP.Packets, st.RedirectND.Packets, st.RedirectRouted.Packets, st.Pass.Packets, st.PassHost.Packets, st.NoSocket.Packets, st.Malformed.Packets)
	}
	fmt.Fprintln(tw)

	if o := s.Offload; o != nil {
		fmt.Fprintln(tw, "OFFLOAD\tenabled\toffloaded\tpending\tkept in software\tpromoted tcp/udp/udp-oneway/icmp\twithdrawn fin-rst/expired/config/error\tmap full")
		fmt.Fprintf(tw, "\t%v\t%d\t%d\t%d\t%d/%d/%d/%d\t%d/%d/%d/%d\t%d\n\n", o.Enabled, o.Offloaded, o.Pending, o.KeptInSoftware,
			o.Promoted.TCP, o.Promoted.UDPAnswered, o.Promoted.UDPOneway, o.Promoted.ICMP,
			o.Withdrawn.FinRst, o.Withdrawn.Expired, o.Withdrawn.Config, o.Withdrawn.Error, o.Full)
	}
	if len(s.XDP) > 0 {
		// Shared by every interface's program: shown once.
		f := &s.XDP[0].Stats.FastPath
		fmt.Fprintln(tw, "FAST PATH\thits egress ipv4/ipv6\thits ingress ipv4/ipv6\tmiss ipv4/ipv6\tpunts")
		var punts []string
		for r, c := range f.Punts {
			if c.Packets > 0 {
				punts = append(punts, fmt.Sprintf("%s=%d", bpf.PuntReason(r), c.Packets))
			}
		}
		if len(punts) == 0 {
			punts = []string{"(none)"}
		}
		fmt.Fprintf(tw, "\t%d/%d\t%d/%d\t%d/%d\t%s\n\n", f.HitEgress.Packets, f.HitEgress6.Packets, f.HitIngress.Packets, f.HitIngress6.Packets,
			f.Miss.Packets, f.Miss6.Packets, strings.Join(punts, " "))
	}

	fmt.Fprintln(tw, "CONNTRACK\tentries\tcapacity\tcreated\texpired\tdeleted\tfull\tno reply tuple\tinvalid")
	for i, c := range []*conntrack.Stats{&s.Conntrack, &s.Conntrack6} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", [2]string{"ipv4", "ipv6"}[i], c.Entries, c.Capacity, c.Created, c.Expired, c.Deleted,
			c.FullDrops, c.NoReplyDrops, c.InvalidPackets)
	}
	fmt.Fprintln(tw)

	n := &s.Neighbors
	fmt.Fprintln(tw, "NEIGHBORS\tentries\tmisses\tresolutions\tmanaged\tprobes\tfailures\tresyncs")
	fmt.Fprintf(tw, "\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n\n", n.Entries, n.Misses, n.Resolutions, n.Managed, n.Probes, n.Failures, n.Resyncs)
	fmt.Fprintln(tw, "WORKER\tthread\tbusy (cpu s)\tbusy since start")
	for _, w := range s.Workers {
		fmt.Fprintf(tw, "%d\t%d\t%.2f\t%.1f%%\n", w.Worker, w.TID, w.BusySeconds, 100*w.BusySeconds/max(s.Uptime, 1))
	}
	fmt.Fprintln(tw)
	c2 := &s.Config
	fmt.Fprintln(tw, "CONFIG\treloads\trefused\tdraining NAT addresses")
	draining := "(none)"
	if len(c2.DrainingNATAddrs) > 0 {
		draining = strings.Join(c2.DrainingNATAddrs, " ")
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", c2.File, c2.Reloads, c2.ReloadFailures, draining)
	if c2.LastError != "" {
		fmt.Fprintf(tw, "last refusal: %s\n", c2.LastError)
	}
	writeOVNStats(tw, s.OVN)
	return tw.Flush()
}

// writeOVNStats renders OVN mode's state (the "ovn" section, an
// ovn.Status), if any.
func writeOVNStats(w io.Writer, v any) {
	if v == nil {
		return
	}
	var st ovn.Status
	if b, err := json.Marshal(v); err != nil || json.Unmarshal(b, &st) != nil {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "OVN	chassis	nb	sb	disconnects nb/sb	routers	claimed ports	unsupported	syncs")
	conn := func(db string) string {
		if st.Connected[db] {
			return "connected"
		}
		return "DISCONNECTED"
	}
	fmt.Fprintf(w, "\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\n", st.Chassis, conn("nb"), conn("sb"),
		st.Disconnects["nb"], st.Disconnects["sb"], len(st.Served), len(st.Claimed), len(st.Problems), st.Syncs)
	if st.LastError != "" {
		fmt.Fprintf(w, "last OVN apply refused: %s\n", st.LastError)
	}
}
