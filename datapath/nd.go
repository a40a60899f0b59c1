package datapath

import "github.com/xgw-dev/xgw/packet"

// Neighbour discovery (RFC 4861) that the gateway answers itself, the
// IPv6 counterpart of arp.go and arp_external.go: over Geneve, neighbour
// solicitations for a gateway router's join-port IPv6 addresses (OVN's
// distributed router resolves the gateway that way, as with ARP for
// IPv4); on the external side, solicitations for NAT66 addresses that are
// not the host's (the kernel answers for its own). Router advertisements,
// redirects and ND toward the kernel stay the kernel's.
//
// The answer is built in place in the packet's buffer, as the ARP reply
// is: parseNS validates the solicitation and keeps what the answer needs,
// the caller looks its target up in the topology, and ndReply turns the
// frame into the advertisement. The caller then sends it as arp and
// arpExternal send theirs (Geneve back to the sending chassis, or out of
// the external port) and counts it with them (Stats.ARPReply,
// Stats.ARPReplyExternal count neighbour answers of both families).

// neighSolicit is what a valid neighbour solicitation tells the answer.
type neighSolicit struct {
	Target packet.IP6 // the address asked for
	// Src is the solicitation's source, :: for duplicate address
	// detection (DAD), when the answer goes to all nodes.
	Src packet.IP6
	// ReplyMAC is where a unicast answer goes: the source link-layer
	// address option, or the Ethernet source when there is none.
	ReplyMAC packet.MAC
}

// DAD reports whether the solicitation is duplicate address detection
// (RFC 4862 §5.4), whose answer is multicast to all nodes.
func (ns *neighSolicit) DAD() bool { return ns.Src.IsUnspecified() }

// naLen is an advertisement with a target link-layer address option, from
// the IPv6 header on.
const naLen = packet.IPv6Len + packet.NDMinLen + packet.NDOptLinkAddrLen

// allNodes is ff02::1, where the answer to a DAD probe goes (RFC 4861
// §7.2.4), and allNodesMAC its Ethernet address.
var (
	allNodes    = packet.IP6{0: 0xff, 1: 0x02, 15: 0x01}
	allNodesMAC = allNodes.MulticastMAC()
)

// parseNS validates the neighbour solicitation in frame, which
// DecodeDual decoded into p (OK), as RFC 4861 §7.1.1 requires of a node
// before it answers: hop limit 255 (so it came from the link), code 0, a
// valid ICMPv6 checksum, at least 24 bytes, a target that is not
// multicast, options of non-zero length within the message, and, from the
// unspecified address (DAD), a solicited-node multicast destination and
// no source link-layer address option. Beyond §7.1.1 it refuses a
// fragmented solicitation (RFC 6980 §5: ND is never fragmented) and one
// whose destination is neither the target nor the target's
// solicited-node group (a solicitation is sent to one of them, §7.2.2;
// anything else was not meant for the target's owner).
//
// A frame that is no IPv6 neighbour solicitation is DropND; one that
// fails the checks is DropNDInvalid. It allocates nothing and reads only
// within frame[:p.End].
func parseNS(frame []byte, p *packet.Parsed) (neighSolicit, Drop) {
	if p.Family != 6 || p.Proto != packet.ProtoICMPv6 || p.ICMPType != packet.ICMPv6NeighborSolicit || p.L4Off > p.End || p.End > len(frame) {
		return neighSolicit{}, DropND
	}
	if p.Frag || p.FragHdrOff != 0 {
		return neighSolicit{}, DropNDInvalid
	}
	msg := frame[p.L4Off:p.End]
	if p.TTL != 255 || p.ICMPCode != 0 || len(msg) < packet.NDMinLen {
		return neighSolicit{}, DropNDInvalid
	}
	if !packet.L4ChecksumValid6(msg, p.Src6, p.Dst6, packet.ProtoICMPv6) {
		return neighSolicit{}, DropNDInvalid
	}
	c := packet.ICMPv6(msg)
	ns := neighSolicit{Target: c.NDTarget(), Src: p.Src6}
	if ns.Target.IsMulticast() {
		return neighSolicit{}, DropNDInvalid
	}
	slla, hasSLLA, malformed := c.NDLinkAddr(packet.NDOptSourceLinkAddr)
	if malformed {
		return neighSolicit{}, DropNDInvalid
	}
	solicited := ns.Target.SolicitedNode()
	if ns.DAD() && (p.Dst6 != solicited || hasSLLA) {
		return neighSolicit{}, DropNDInvalid
	}
	if p.Dst6 != solicited && p.Dst6 != ns.Target {
		return neighSolicit{}, DropNDInvalid
	}
	if hasSLLA {
		ns.ReplyMAC = slla
	} else {
		ns.ReplyMAC = packet.Ethernet(frame).Src()
	}
	return ns, DropNone
}

// putNA writes into out, which holds the solicitation's frame from its
// Ethernet header on (its IPv6 header at l3Off), the advertisement that
// mac owns ns.Target, and returns its length: the link header is kept
// (an 802.1Q tag stays) with its addresses set, and from l3Off on come a
// fresh IPv6 header and the advertisement, as RFC 4861 §7.2.4 says:
// from the target address to the solicitation's source with the
// Solicited flag, or to all nodes without it for DAD; hop limit 255; the
// Override flag (the target is ours, not an anycast or proxied address);
// the Router flag if router (a router port's own address, as OVN's
// nd_na_router; a NAT address is not a router's); and a target
// link-layer address option. (OVN's pinctrl sets Solicited for DAD too,
// which §7.2.4 forbids; here it is clear.) It returns 0 if out is too
// short.
func putNA(out []byte, l3Off int, ns *neighSolicit, mac packet.MAC, router bool) int {
	n := l3Off + naLen
	if l3Off < packet.EthernetLen || len(out) < n {
		return 0
	}
	dst, dstMAC := ns.Src, ns.ReplyMAC
	flags := uint8(packet.NAFlagOverride)
	if ns.DAD() {
		dst, dstMAC = allNodes, allNodesMAC
	} else {
		flags |= packet.NAFlagSolicited
	}
	if router {
		flags |= packet.NAFlagRouter
	}
	eth := packet.Ethernet(out)
	eth.SetDst(dstMAC)
	eth.SetSrc(mac)
	out[l3Off-2], out[l3Off-1] = byte(packet.EtherTypeIPv6>>8), byte(packet.EtherTypeIPv6&0xff)
	packet.IPv6(out[l3Off:]).Encode(packet.IPv6Fields{PayloadLength: packet.NDMinLen + packet.NDOptLinkAddrLen,
		NextHeader: packet.ProtoICMPv6, HopLimit: 255, Src: ns.Target, Dst: dst})
	c := packet.ICMPv6(out[l3Off+packet.IPv6Len : n])
	c.SetType(packet.ICMPv6NeighborAdvert)
	c.SetCode(0)
	c.SetNAFlags(flags)
	c.SetNDTarget(ns.Target)
	packet.PutNDLinkAddr(c.NDOptions(), packet.NDOptTargetLinkAddr, mac)
	c.SetChecksum(c.ComputeChecksum(ns.Target, dst))
	return n
}

// ndReply turns the solicitation in c.pkt, which starts at pkt.Off and
// was decoded into c.parsed and validated by parseNS as ns, into the
// advertisement that mac owns ns.Target (router: a router port's own
// address), in place: pkt.Len becomes its length and c.parsed describes
// it. It returns the advertisement's frame, or DropHeadroom if the buffer
// cannot hold it (an advertisement can be longer than a solicitation
// without options). The caller sends it and counts it.
func (w *Worker) ndReply(c *pktCtx, ns *neighSolicit, mac packet.MAC, router bool) ([]byte, Drop) {
	pkt, p := c.pkt, &c.parsed
	n := putNA(pkt.Buf[pkt.Off:], p.L3Off, ns, mac, router)
	if n == 0 {
		return nil, DropHeadroom
	}
	pkt.Len = n
	out := pkt.Frame()
	if p.DecodeDual(out) != packet.OK {
		return nil, DropMalformed // cannot happen: putNA wrote it
	}
	return out, DropNone
}
