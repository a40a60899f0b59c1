/* The (inner) IPv6 packet a flow6 key is read from. The checks repeat
 * packet.Parsed.DecodeDual (and packet.WalkIPv6Ext, with its bounds);
 * anything it would reject, and anything the fast path does not do
 * (fragments, tags, protocols other than TCP, UDP, ICMPv6 echo), is
 * punted with a named reason. */
#ifndef XGW_INNER6_H
#define XGW_INNER6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "parse.h"
#include "flow6.h"
#include "fpstats.h"
#include "inner.h"

#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#define IP6_HLEN 40
/* packet.IPv6MaxExtHeaders, packet.IPv6MaxExtBytes */
#define IP6_MAX_EXT 8
#define IP6_MAX_EXT_BYTES 512
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129

/* fp_pkt6 is fp_pkt for IPv6. Offsets are from the frame's start. */
struct fp_pkt6 {
	__u64 ovn_opt;   /* Geneve: the OVN option's value | 1 << 32; 0: none */
	__u32 inner_off; /* start of the (inner) Ethernet frame */
	__u32 inner_end; /* its end: the end of its IPv6 datagram, once parsed */
	__u32 l4_off;    /* start of the L4 header (after extension headers) */
	__u16 plen;      /* IPv6 payload length */
	__u16 ulen;      /* UDP length field */
	__u8 hop;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 ext;        /* extension headers walked */
};

/* ip6_is_ext is packet.IsExtHeader: hop-by-hop, routing, fragment, AH,
 * destination options. */
static __always_inline int ip6_is_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

/* ip6_ext_walk is packet.WalkIPv6Ext over the datagram whose fixed header
 * starts at l3 and which ends at end: it steps over extension headers and
 * sets *proto and *l4 to the upper layer's protocol and offset. Returns 0,
 * FP_PUNT_FRAGMENT for any fragment header (software reassembles or
 * forwards fragments), or FP_PUNT_IP6_EXT for a chain WalkIPv6Ext
 * refuses (too many, too long, past the datagram, hop-by-hop not first,
 * an AH length not a multiple of 8). */
static __always_inline int ip6_ext_walk(void *data, void *data_end, __u32 l3, __u32 end,
					__u8 *proto, __u32 *l4)
{
	__u32 off = l3 + IP6_HLEN, l;
	__u8 nh = *proto, *h;

	for (int i = 0; i < IP6_MAX_EXT; i++) {
		if (!ip6_is_ext(nh))
			break;
		if (nh == 44)
			return FP_PUNT_FRAGMENT;
		if (nh == 0 && off != l3 + IP6_HLEN)
			return FP_PUNT_IP6_EXT;
		if (off + 8 > end || off > FP_MAX_FRAME)
			return FP_PUNT_IP6_EXT;
		barrier_var(off); /* keep the mask the verifier's bound needs */
		h = data + (off & FP_MAX_FRAME);
		if ((void *)(h + 8) > data_end)
			return FP_PUNT_IP6_EXT;
		if (nh == 51) {
			l = ((__u32)h[1] + 2) * 4;
			if (l % 8)
				return FP_PUNT_IP6_EXT;
		} else {
			l = ((__u32)h[1] + 1) * 8;
		}
		if (off + l - l3 - IP6_HLEN > IP6_MAX_EXT_BYTES || off + l > end)
			return FP_PUNT_IP6_EXT;
		nh = h[0];
		off += l;
	}
	if (ip6_is_ext(nh))
		return FP_PUNT_IP6_EXT; /* more than IP6_MAX_EXT */
	*proto = nh;
	*l4 = off;
	return 0;
}

/* parse_inner6 fills k's addresses, ports and proto and p from the
 * Ethernet frame at [p->inner_off, p->inner_end), whose EtherType the
 * caller found to be IPv6. Returns 0 or a punt. */
static __always_inline int parse_inner6(void *data, void *data_end, struct fp_key6 *k,
					struct fp_pkt6 *p)
{
	__u32 off = p->inner_off, end = p->inner_end, l4, l4len;
	struct ipv6hdr *ip;
	__u8 proto;
	int why;

	if (off > 512 || end > FP_MAX_FRAME)
		return FP_PUNT_MALFORMED;
	ip = data + (off & 0x3ff) + ETH_HLEN;
	if ((void *)(ip + 1) > data_end || off + ETH_HLEN + IP6_HLEN > end)
		return FP_PUNT_MALFORMED;
	if (ip->version != 6)
		return FP_PUNT_MALFORMED;
	p->plen = bpf_ntohs(ip->payload_len);
	if (off + ETH_HLEN + IP6_HLEN + p->plen > end)
		return FP_PUNT_MALFORMED;
	/* Link padding after the datagram is trimmed, as the pipeline does. */
	end = off + ETH_HLEN + IP6_HLEN + p->plen;
	p->inner_end = end;
	p->hop = ip->hop_limit;
	__builtin_memcpy(k->src, &ip->saddr, 16);
	__builtin_memcpy(k->dst, &ip->daddr, 16);
	proto = ip->nexthdr;
	why = ip6_ext_walk(data, data_end, off + ETH_HLEN, end, &proto, &l4);
	if (why)
		return why;
	p->ext = l4 != off + ETH_HLEN + IP6_HLEN;
	p->l4_off = l4;
	k->proto = proto;
	l4len = end - l4;
	if (l4 > FP_MAX_FRAME)
		return FP_PUNT_MALFORMED;
	barrier_var(l4);

	switch (proto) {
	case IPPROTO_UDP: {
		struct udphdr *u = data + (l4 & FP_MAX_FRAME);

		if ((void *)(u + 1) > data_end || l4len < sizeof(*u))
			return FP_PUNT_MALFORMED;
		p->ulen = bpf_ntohs(u->len);
		/* packet: udp-length, udp6-zero-checksum */
		if (p->ulen < sizeof(*u) || p->ulen > l4len || !u->check)
			return FP_PUNT_MALFORMED;
		k->sport = u->source;
		k->dport = u->dest;
		return 0;
	}
	case IPPROTO_TCP: {
		struct tcphdr *t = data + (l4 & FP_MAX_FRAME);
		__u32 doff;

		if ((void *)(t + 1) > data_end || l4len < sizeof(*t))
			return FP_PUNT_MALFORMED;
		doff = t->doff * 4;
		if (doff < sizeof(*t) || doff > l4len)
			return FP_PUNT_MALFORMED;
		k->sport = t->source;
		k->dport = t->dest;
		p->tcp_flags = ((__u8 *)t)[13];
		return 0;
	}
	case IPPROTO_ICMPV6: {
		struct icmp_echo *c = data + (l4 & FP_MAX_FRAME);

		if ((void *)(c + 1) > data_end || l4len < sizeof(*c))
			return FP_PUNT_MALFORMED;
		/* Only echo is keyed by id; errors and neighbour discovery
		 * are software's. */
		if (c->type != ICMP6_ECHO_REQUEST && c->type != ICMP6_ECHO_REPLY)
			return FP_PUNT_PROTO;
		k->sport = c->id;
		k->dport = c->id;
		p->icmp_type = c->type;
		return 0;
	}
	}
	return FP_PUNT_PROTO;
}

#endif /* XGW_INNER6_H */
