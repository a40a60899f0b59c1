package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/ipfrag"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// pktCtx is everything the stages learn about the packet in hand, carried
// from RX to the verdict. Its pktState is cleared in one assignment per
// packet (Worker.processOne); the decoded headers beside it are scratch
// that a stage writes before anything reads it (pktState.pre and
// metaValid say what is valid), so they are not cleared. Stages read and
// fill it and return what they decided. Nothing in it outlives the packet.
type pktCtx struct {
	pktState

	// The decoded headers: the outer ones (underlay), and the frame the
	// pipeline routes (the inner one for Geneve).
	dec    geneve.Decapped
	parsed packet.Parsed
	// outer is what the encap stage wrote, for flow.Derive.
	outer geneve.EncapParams
	// key6 is an IPv6 packet's flow key on arrival (cand.Key's twin; its
	// connections go in cand.Conns), written before track6 reads it.
	key6 flow.Key6
	// meta is what conntrack's state machines need (fillMeta, once).
	meta conntrack.Meta
}

// pktState is the part of pktCtx that starts from zero for every packet.
type pktState struct {
	pkt *Packet
	pl  *plan
	now int64
	// planning runs a synthetic packet for PlanFlow: conntrack is only
	// peeked, and the join port the packet was routed onto is kept to key
	// the reverse direction.
	planning bool
	// pre says how much of dec and parsed the flow cache's probe already
	// decoded; metaValid that meta describes this packet.
	pre       uint8 // preNone, preDecap, preParsed
	metaValid bool

	// The flow this packet belongs to, as the offload manager and the flow
	// cache see it: its key on arrival and its connection per zone (zones
	// has bit z set once Conns[z] is known); unseen when a zone's
	// connection lacks MarkOffloadSeen; related for ICMP errors, which
	// never offload or get cached; hits counts zones that found an
	// existing connection; stateChange marks TCP SYN/FIN/RST; ttl is the
	// TTL on arrival.
	cand        flow.Candidate
	zones       uint8
	unseen      bool
	related     bool
	hits        uint8
	stateChange bool
	ttl         uint8
	joinKey     uint16 // underlay: the port key of the join port it reached
	// frag says whether the packet is a fragment the fragment table
	// tracks (frag.go), and fragKey its datagram.
	frag    uint8
	fragKey ipfrag.Key

	join *route.RouterPort // planning only: the join port routed onto
	// v6 marks an IPv6 packet (egress6.go, ingress6.go): its key is
	// key6, its connections are in the IPv6 table, it is reported as a
	// flow.Candidate6 and learnt by the cache's IPv6 table (learn6).
	v6 bool
	// underlay6 marks a packet that came or goes over the IPv6 underlay
	// (decapIPv6, encap6): an IPv4 one is neither cached nor planned
	// (flow.Action encapsulates over IPv4 only); an IPv6 one is, as
	// flow.Action6 (its outer header read off the frame).
	underlay6 bool
}

// What the flow cache's probe already parsed of a packet it handed to the
// full pipeline, so that the pipeline does not parse it again.
const (
	preNone = iota
	preDecap
	preParsed
)

// bothZones is pktCtx.zones once the packet crossed the DNAT and the SNAT
// zone: only such flows are cached or offloaded.
const bothZones = 1<<flow.ZoneDNAT | 1<<flow.ZoneSNAT

// noteArrival records what learning needs of a packet before any stage
// rewrites it.
func (c *pktCtx) noteArrival(p *packet.Parsed) {
	c.ttl = p.TTL
	c.stateChange = p.Proto == packet.ProtoTCP &&
		p.TCPFlags&(packet.TCPFlagSYN|packet.TCPFlagFIN|packet.TCPFlagRST) != 0
}

// noteConn records the packet's connection in zone z.
func (c *pktCtx) noteConn(z int, m *conntrack.Match) {
	c.cand.Conns[z] = flow.Conn{Handle: m.Handle, Dir: m.Dir}
	c.zones |= 1 << z
	if m.Mark&flow.MarkOffloadSeen == 0 {
		c.unseen = true
	}
}

// noteConn6 is noteConn for an IPv6 connection (a Table6 handle).
func (c *pktCtx) noteConn6(z int, m *conntrack.Match6) {
	c.cand.Conns[z] = flow.Conn{Handle: m.Handle, Dir: m.Dir}
	c.zones |= 1 << z
	if m.Mark&flow.MarkOffloadSeen == 0 {
		c.unseen = true
	}
}

// candidate6 is the IPv6 packet's connection as the offload manager sees it.
func (c *pktCtx) candidate6() flow.Candidate6 {
	return flow.Candidate6{Key: c.key6, Conns: c.cand.Conns}
}

// output is the pipeline's result for this packet as flow.Derive reads it.
func (c *pktCtx) output() flow.Output {
	o := flow.Output{Key: c.cand.Key, OutPort: c.pkt.OutPort, Frame: c.pkt.Frame(), ArrivalTTL: c.ttl, Conns: c.cand.Conns}
	if c.pkt.OutPort == flow.Underlay {
		o.Outer = &c.outer
	}
	return o
}
