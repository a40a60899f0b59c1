/* The (inner) IPv4 packet a flow key is read from. The checks repeat
 * packet.Parsed.Decode; anything it would reject, and anything the fast
 * path does not do (options, fragments, tags), is punted. */
#ifndef XGW_INNER_H
#define XGW_INNER_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "parse.h"
#include "flow.h"
#include "fpstats.h"

/* A frame longer than this is not linear XDP data anyway; the bound keeps
 * variable packet offsets provable for the verifier. */
#define FP_MAX_FRAME 0xfff

/* fp_pkt is what the checks before the rewrite need besides the key. */
struct fp_pkt {
	__u64 ovn_opt;   /* Geneve: the OVN option's value | 1 << 32; 0: none */
	__u32 inner_off; /* start of the (inner) Ethernet frame */
	__u32 inner_end; /* its end: the end of its IPv4 datagram, once parsed */
	__u16 tot_len;   /* (inner) IPv4 total length */
	__u16 ulen;      /* UDP length field */
	__u16 l4_csum;   /* UDP checksum as received (0: none) */
	__u8 ttl;
	__u8 tcp_flags;
	__u8 icmp_type;
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

/* parse_inner fills k's addresses, ports and proto and p from the
 * Ethernet frame at [p->inner_off, p->inner_end). Returns 0 or a punt. */
static __always_inline int parse_inner(void *data, void *data_end, struct fp_key *k,
				       struct fp_pkt *p)
{
	__u32 off = p->inner_off, end = p->inner_end, tot, l4len;
	struct ethhdr *eth;
	struct iphdr *ip;

	if (off > 512 || end > FP_MAX_FRAME)
		return FP_PUNT_MALFORMED;
	eth = data + off;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || off + ETH_HLEN + sizeof(*ip) > end) {
		if ((void *)(eth + 1) <= data_end && eth->h_proto != bpf_htons(ETH_P_IP))
			goto not_ip;
		return FP_PUNT_MALFORMED;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		goto not_ip;
	if (ip->version != 4 || ip->ihl < 5)
		return FP_PUNT_MALFORMED;
	if (ip->ihl != 5)
		return FP_PUNT_IP_OPTIONS;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < sizeof(*ip) || off + ETH_HLEN + tot > end)
		return FP_PUNT_MALFORMED;
	/* The datagram ends at its total length: link padding (or garbage)
	 * after it is trimmed, not forwarded (the pipeline does the same). */
	p->inner_end = off + ETH_HLEN + tot;
	if (ipv4_is_fragment(ip))
		return FP_PUNT_FRAGMENT;
	l4len = tot - sizeof(*ip);
	p->tot_len = tot;
	p->ttl = ip->ttl;
	k->src = ip->saddr;
	k->dst = ip->daddr;
	k->proto = ip->protocol;

	switch (ip->protocol) {
	case IPPROTO_UDP: {
		struct udphdr *u = (void *)(ip + 1);

		if ((void *)(u + 1) > data_end || l4len < sizeof(*u))
			return FP_PUNT_MALFORMED;
		k->sport = u->source;
		k->dport = u->dest;
		p->ulen = bpf_ntohs(u->len);
		p->l4_csum = u->check;
		return 0;
	}
	case IPPROTO_TCP: {
		struct tcphdr *t = (void *)(ip + 1);
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
	case IPPROTO_ICMP: {
		struct icmp_echo *c = (void *)(ip + 1);

		if ((void *)(c + 1) > data_end || l4len < sizeof(*c))
			return FP_PUNT_MALFORMED;
		/* Only echo is keyed by id; errors are translated in software. */
		if (c->type != ICMP_ECHO && c->type != ICMP_ECHOREPLY)
			return FP_PUNT_PROTO;
		k->sport = c->id;
		k->dport = c->id;
		p->icmp_type = c->type;
		return 0;
	}
	}
	return FP_PUNT_PROTO;

not_ip:
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		return FP_PUNT_VLAN;
	return FP_PUNT_NOT_IPV4;
}

#endif /* XGW_INNER_H */
