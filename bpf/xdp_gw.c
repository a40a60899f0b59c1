//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdp_gw: the gateway's XDP entry point. It decides, per frame, between the
 * Linux stack (control traffic: ARP, neighbour discovery, ICMP/SSH/BGP to
 * the host) and our AF_XDP socket on the same RX queue (Geneve to our VTEP,
 * anything to a NAT address or, for IPv6, into a routed prefix). Before either redirect, the offload fast path (include/
 * fastpath.h) forwards established flows itself; what it does not take
 * continues here unchanged. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "include/parse.h"
#include "include/maps.h"
#include "include/stats.h"
#include "include/fastpath.h"
#include "include/hostaddr.h"
#include "include/routed6.h"

/* Set from Go before load (CollectionSpec.Variables). Network byte order so
 * that the comparisons below need no swap. */
volatile const __be16 geneve_port = bpf_htons(6081);
volatile const __be32 vtep_ip = 0;
/* 1 in the object file, which is what `ip link ... object` loads: take
 * the parameters above from xgw_config instead. xgw's loader sets 0; the
 * verifier then prunes the map read (the constant is frozen). */
volatile const __u8 config_in_map = 1;
/* The IPv6 VTEP (all zero: no IPv6 Geneve steering); xgw_config6 when
 * config_in_map. */
volatile const __u64 vtep_ip6[2] = {}; /* 16 bytes, network order */

struct steering {
	__be32 vtep;
	__be16 port;
	__u32 xsk_base; /* slot * XGW_MAX_QUEUES */
	/* ARP for the NAT addresses is answered on this interface: the
	 * external side. xgw's own loads program xgw_nat_addrs on the
	 * external interface only, so this is always 1 there; an operator's
	 * two instances share xgw_nat_addrs and only ext_ifindex tells. */
	__u8 nat_arp;
};

static __always_inline int get_steering(struct xdp_md *ctx, struct steering *s)
{
	struct xgw_params *cfg;
	__u32 zero = 0;

	if (!config_in_map) {
		s->vtep = vtep_ip;
		s->port = geneve_port;
		s->xsk_base = 0;
		s->nat_arp = 1;
		return 0;
	}
	cfg = bpf_map_lookup_elem(&xgw_config, &zero);
	if (!cfg)
		return -1;
	s->vtep = cfg->vtep_ip;
	s->port = cfg->geneve_port ? cfg->geneve_port : bpf_htons(6081);
	s->xsk_base = cfg->ext_ifindex && ctx->ingress_ifindex == cfg->ext_ifindex ?
			      XGW_MAX_QUEUES : 0;
	s->nat_arp = !cfg->ext_ifindex || ctx->ingress_ifindex == cfg->ext_ifindex;
	return 0;
}

static __always_inline int to_xsk(struct xdp_md *ctx, __u32 base, __u32 stat, __u64 len)
{
	__u32 q = ctx->rx_queue_index;
	int ret = XDP_PASS;

	/* A queue past the slot would land on another interface's socket. */
	if (q < XGW_MAX_QUEUES)
		ret = bpf_redirect_map(&xgw_xsks, base + q, XDP_PASS);
	stat_inc(ret == XDP_REDIRECT ? stat : XGW_STAT_NO_SOCKET, len);
	return ret;
}

/* ip6_eq compares two IPv6 addresses (no memcmp in BPF). */
static __always_inline int ip6_eq(const void *a, const void *b)
{
	const __u64 *x = a, *y = b;

	return x[0] == y[0] && x[1] == y[1];
}

/* get_vtep6 copies the IPv6 VTEP into v; false when there is none. */
static __always_inline int get_vtep6(__u8 *v)
{
	struct xgw_params6 *cfg;
	__u32 zero = 0;

	if (!config_in_map) {
		/* Volatile reads: a copy through a plain pointer would let the
		 * compiler fold the initializer's zeros. */
		((__u64 *)v)[0] = vtep_ip6[0];
		((__u64 *)v)[1] = vtep_ip6[1];
	} else {
		cfg = bpf_map_lookup_elem(&xgw_config6, &zero);
		if (!cfg)
			return 0;
		__builtin_memcpy(v, cfg->vtep_ip6, 16);
	}
	return (((__u64 *)v)[0] | ((__u64 *)v)[1]) != 0;
}

#define ND_ROUTER_SOLICIT 133
#define ND_REDIRECT 137
#define ND_NEIGHBOR_SOLICIT 135

/* xdp_gw6 is xdp_gw's steering for IPv6 (c at the IPv6 header):
 *  - neighbour discovery is the kernel's, but for a solicitation whose
 *    target is one of our NAT66 addresses (not the host's), which xgw
 *    answers as ARP for a NAT address;
 *  - Geneve over IPv6 to our IPv6 VTEP: the fast path, else the XSK;
 *    fragments go to the stack, which reassembles;
 *  - anything to a NAT66 address: the fast path, else the XSK; an
 *    address shared with the host (XGW_NAT_HOST) is the kernel's whole
 *    (no port split as for IPv4 yet);
 *  - anything to an address in a routed prefix (xgw_routed6, include/
 *    routed6.h): likewise, as the routers route it inside without NAT. */
static __always_inline int xdp_gw6(struct xdp_md *ctx, struct hdr_cursor *c, int tagged,
				   struct steering *st, __u64 len)
{
	void *data = (void *)(long)ctx->data;
	struct ipv6hdr *ip = c->pos;
	__u8 vtep6[16], nh;
	__u32 *nat, l3, l4;
	int ret;

	if ((void *)(ip + 1) > c->end || ip->version != 6) {
		stat_inc(XGW_STAT_MALFORMED, len);
		return XDP_PASS;
	}
	if (ip->nexthdr == IPPROTO_ICMPV6) {
		__u8 *m = (void *)(ip + 1);

		if ((void *)(m + 24) <= c->end && m[0] >= ND_ROUTER_SOLICIT && m[0] <= ND_REDIRECT) {
			if (m[0] == ND_NEIGHBOR_SOLICIT && st->nat_arp && !tagged) {
				nat = bpf_map_lookup_elem(&xgw_nat_addrs6, m + 8);
				if (nat && !(*nat & XGW_NAT_HOST))
					return to_xsk(ctx, st->xsk_base, XGW_STAT_REDIRECT_ND, len);
			}
			goto pass;
		}
	}
	if (get_vtep6(vtep6) && ip6_eq(&ip->daddr, vtep6)) {
		l3 = (void *)ip - data;
		nh = ip->nexthdr;
		if (l3 > 32 || ip6_ext_walk(data, c->end, l3, l3 + IP6_HLEN + bpf_ntohs(ip->payload_len),
					    &nh, &l4) || nh != IPPROTO_UDP)
			goto pass;
		{
			struct udphdr *udp = data + (l4 & 0x3ff);

			if ((void *)(udp + 1) > c->end) {
				stat_inc(XGW_STAT_MALFORMED, len);
				return XDP_PASS;
			}
			if (udp->dest != st->port)
				goto pass;
		}
		ret = fp_egress6(ctx, tagged, l4 != l3 + IP6_HLEN);
		if (ret != FP_CONTINUE)
			return ret;
		return to_xsk(ctx, st->xsk_base, XGW_STAT_REDIRECT_GENEVE, len);
	}
	nat = bpf_map_lookup_elem(&xgw_nat_addrs6, &ip->daddr);
	if (nat) {
		if (*nat & XGW_NAT_HOST) {
			stat_inc(XGW_STAT_PASS_HOST, len);
			return XDP_PASS;
		}
		ret = fp_ingress6(ctx, tagged);
		if (ret != FP_CONTINUE)
			return ret;
		return to_xsk(ctx, st->xsk_base, XGW_STAT_REDIRECT_NAT, len);
	}
	if (routed6(&ip->daddr)) {
		ret = fp_ingress6(ctx, tagged);
		if (ret != FP_CONTINUE)
			return ret;
		return to_xsk(ctx, st->xsk_base, XGW_STAT_REDIRECT_ROUTED, len);
	}
pass:
	stat_inc(XGW_STAT_PASS, len);
	return XDP_PASS;
}

SEC("xdp")
int xdp_gw(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor c = { .pos = data, .end = data_end };
	__u64 len = data_end - data;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	struct steering st;
	__u32 *nat;
	int proto, tagged, ret;

	if (get_steering(ctx, &st) < 0)
		goto pass;

	proto = parse_eth(&c, &eth);
	if (proto < 0) {
		stat_inc(XGW_STAT_MALFORMED, len);
		return XDP_PASS;
	}
	if (proto == bpf_htons(ETH_P_ARP)) {
		struct arp_eth_ipv4 *arp;
		__u32 tpa;

		/* An untagged ARP request for one of our NAT addresses: xgw
		 * answers as the owning router's external port (the host
		 * does not own the address). Every other ARP, the host's
		 * own addresses' included, is the kernel's. */
		if (!st.nat_arp || c.pos != data + sizeof(*eth))
			goto pass;
		arp = parse_arp_request(&c);
		if (!arp)
			goto pass;
		__builtin_memcpy(&tpa, arp->tpa, sizeof(tpa));
		nat = bpf_map_lookup_elem(&xgw_nat_addrs, &tpa);
		if (!nat || (*nat & XGW_NAT_HOST))
			goto pass;
		return to_xsk(ctx, st.xsk_base, XGW_STAT_REDIRECT_ARP, len);
	}
	tagged = c.pos != data + sizeof(*eth);
	if (proto == bpf_htons(ETH_P_IPV6))
		return xdp_gw6(ctx, &c, tagged, &st, len);
	if (proto != bpf_htons(ETH_P_IP))
		goto pass;
	ip = parse_ipv4(&c);
	if (!ip) {
		stat_inc(XGW_STAT_MALFORMED, len);
		return XDP_PASS;
	}

	/* Geneve to our VTEP. Fragments go to the stack, which reassembles. */
	if (st.vtep && ip->daddr == st.vtep && ip->protocol == IPPROTO_UDP &&
	    !ipv4_is_fragment(ip)) {
		udp = parse_udp(&c);
		if (!udp) {
			stat_inc(XGW_STAT_MALFORMED, len);
			return XDP_PASS;
		}
		if (udp->dest == st.port) {
			ret = fp_egress(ctx, tagged, ip->saddr, udp);
			if (ret != FP_CONTINUE)
				return ret;
			return to_xsk(ctx, st.xsk_base, XGW_STAT_REDIRECT_GENEVE, len);
		}
		goto pass;
	}

	/* Anything addressed to a NAT address belongs to the pipeline, ICMP
	 * and fragments included (it translates ICMP errors), except on an
	 * address shared with the host (include/hostaddr.h). */
	nat = bpf_map_lookup_elem(&xgw_nat_addrs, &ip->daddr);
	if (nat) {
		/* Shared with the host: only what can answer xgw's SNAT. */
		if ((*nat & XGW_NAT_HOST) && !host_reply(&c, ip)) {
			stat_inc(XGW_STAT_PASS_HOST, len);
			return XDP_PASS;
		}
		ret = fp_ingress(ctx, tagged);
		if (ret != FP_CONTINUE)
			return ret;
		return to_xsk(ctx, st.xsk_base, XGW_STAT_REDIRECT_NAT, len);
	}

pass:
	stat_inc(XGW_STAT_PASS, len);
	return XDP_PASS;
}

/* xdp_pass goes on veth peers: a veth only accepts XDP_REDIRECTed frames
 * when its peer runs an XDP program. */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
