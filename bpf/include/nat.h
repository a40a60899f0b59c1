/* The per-packet rewrite of the (inner) frame: routed L2, TTL, NAT. Every
 * checksum is patched with the flow's precomputed delta, as nat.Rewrite
 * and IPv4.DecTTL do in Go, so a wrong checksum stays wrong. */
#ifndef XGW_NAT_H
#define XGW_NAT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "flow.h"
#include "parse.h"

/* rewrite_inner rewrites the frame at in (Ethernet, 20-byte IPv4, L4 of
 * proto, all validated before the head moved). Returns -1 only if the
 * bounds the verifier wants are not there, which parse_inner excluded. */
static __always_inline int rewrite_inner(void *in, void *data_end, const struct fp_action *a,
					 __u8 proto)
{
	struct ethhdr *eth = in;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) + 8 > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, a->eth_dst, ETH_ALEN);
	__builtin_memcpy(eth->h_source, a->eth_src, ETH_ALEN);
	ip->ttl -= a->ttl_dec;
	if (a->flags & FP_F_NAT) {
		ip->saddr = a->nat_src;
		ip->daddr = a->nat_dst;
	}
	ip->check = bpf_htons(csum_apply(bpf_ntohs(ip->check), a->ip_delta));
	if (!(a->flags & FP_F_NAT))
		return 0;

	switch (proto) {
	case IPPROTO_UDP: {
		struct udphdr *u = (void *)(ip + 1);

		u->source = a->nat_sport;
		u->dest = a->nat_dport;
		u->check = bpf_htons(csum_apply_udp(bpf_ntohs(u->check), a->l4_delta));
		break;
	}
	case IPPROTO_TCP: {
		struct tcphdr *t = (void *)(ip + 1);

		if ((void *)(t + 1) > data_end)
			return -1;
		t->source = a->nat_sport;
		t->dest = a->nat_dport;
		t->check = bpf_htons(csum_apply(bpf_ntohs(t->check), a->l4_delta));
		break;
	}
	case IPPROTO_ICMP: {
		struct icmp_echo *c = (void *)(ip + 1);

		c->id = a->nat_sport;
		c->checksum = bpf_htons(csum_apply(bpf_ntohs(c->checksum), a->l4_delta));
		break;
	}
	}
	return 0;
}

#endif /* XGW_NAT_H */
