/* The offload fast path for IPv6 (inner) packets: flow.Apply6 in C. An
 * established flow found in xgw_flows6 is forwarded here (decap from
 * either underlay family, NAT66, hop limit, routed L2, encap over either
 * underlay family); anything else returns FP_CONTINUE with a named punt,
 * and the frame goes on to xdp_gw's steering as without a fast path. */
#ifndef XGW_FASTPATH6_H
#define XGW_FASTPATH6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "flow6.h"
#include "fpstats.h"
#include "geneve.h"
#include "inner6.h"
#include "validate.h"
#include "vtepcache.h"

#ifndef FP_CONTINUE
#define FP_CONTINUE -1
#endif

/* Fixed offsets of an untagged outer IPv6 header without extension
 * headers. */
#define OUTER6_IP_OFF 14
#define OUTER6_UDP_OFF 54

/* Underlay families for fp_forward6's geneve argument. */
#define FP_GENEVE_NONE 0
#define FP_GENEVE_V4 4
#define FP_GENEVE_V6 6

/* ip6_martian is datapath.martian6: ::, ::1, multicast, link-local
 * unicast, v4-mapped. a is 16 bytes in network order. */
static __always_inline int ip6_martian(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
		return 1;
	if (w[0] | w[1])
		return 0;
	if (!w[2])
		return !w[3] || w[3] == bpf_htonl(1);
	return w[2] == bpf_htonl(0xffff);
}

static __always_inline int vtep6_known(const __u8 *src)
{
	return bpf_map_lookup_elem(&xgw_vteps6, src) != NULL;
}

/* ipv6_hdr_sum is the folded sum of the 40-byte IPv6 header at ip as a host-order
 * word (ipv4_hdr_sum's technique). */
static __always_inline __u16 ipv6_hdr_sum(const void *ip)
{
	const __u32 *w = ip;
	__u64 s = (__u64)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] + w[8] + w[9];

	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return bpf_ntohs(csum_fold((__u32)s));
}

/* fp_validate6 is fp_validate for IPv6: martians, MaxLen (no
 * fragmentation in IPv6: software sends packet too big), and for Geneve
 * the OVN outport and the outer UDP checksum (zero accepted over both
 * families, as geneve.DecapDual does). */
static __always_inline int fp_validate6(struct xdp_md *ctx, const struct fp_key6 *k,
					const struct fp_pkt6 *p, const struct fp_action6 *a,
					int geneve)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (!(fp_skip_checks & FP_CHECK_MARTIAN)) {
		if (ip6_martian(k->src))
			return FP_PUNT_MARTIAN_SRC;
		if (ip6_martian(k->dst))
			return FP_PUNT_MARTIAN_DST;
	}
	if (a->max_len && IP6_HLEN + p->plen > a->max_len)
		return FP_PUNT_TOO_BIG;
	if (!(a->flags & FP_F_DECAP))
		return 0;
	if (!(fp_skip_checks & FP_CHECK_OUTPORT) && (a->flags & FP_F_OUTPORT) &&
	    (!(p->ovn_opt >> 32) || (__u16)p->ovn_opt != a->outport))
		return FP_PUNT_OUTPORT;
	if (fp_skip_checks & FP_CHECK_OUTER_CSUM)
		return 0;
	if (geneve == FP_GENEVE_V4)
		return outer_udp_sum_ok(data, data_end) ? 0 : FP_PUNT_GENEVE_CSUM;
	{
		struct ipv6hdr *ip = data + OUTER6_IP_OFF;
		struct udphdr *udp = data + OUTER6_UDP_OFF;
		__u32 s;

		if ((void *)(udp + 1) > data_end)
			return FP_PUNT_MALFORMED;
		if (!udp->check)
			return 0;
		s = 0;
#pragma unroll
		for (int i = 0; i < 8; i++)
			s += bpf_ntohs(((__be16 *)&ip->saddr)[i]) + bpf_ntohs(((__be16 *)&ip->daddr)[i]);
		return udp_sum_ok(data, data_end, OUTER6_UDP_OFF, s + IPPROTO_UDP) ? 0 :
										    FP_PUNT_GENEVE_CSUM;
	}
}

/* rewrite_inner6 rewrites the IPv6 frame at in (validated before the head
 * moved; its L4 header at l4 bytes into it): routed L2, hop limit, NAT66
 * with the flow's L4 delta. Returns -1 only on bounds parsing excluded. */
static __always_inline int rewrite_inner6(void *in, void *data_end, const struct fp_action6 *a,
					  __u8 proto, __u32 l4)
{
	struct ethhdr *eth = in;
	struct ipv6hdr *ip = (void *)(eth + 1);
	void *h;

	if ((void *)(ip + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, a->eth_dst, ETH_ALEN);
	__builtin_memcpy(eth->h_source, a->eth_src, ETH_ALEN);
	ip->hop_limit -= a->hop_dec;
	if (!(a->flags & FP_F_NAT))
		return 0;
	__builtin_memcpy(&ip->saddr, a->nat_src, 16);
	__builtin_memcpy(&ip->daddr, a->nat_dst, 16);
	h = in + (l4 & 0x3ff);
	switch (proto) {
	case IPPROTO_UDP: {
		struct udphdr *u = h;

		if ((void *)(u + 1) > data_end)
			return -1;
		u->source = a->nat_sport;
		u->dest = a->nat_dport;
		u->check = bpf_htons(csum_apply_udp(bpf_ntohs(u->check), a->l4_delta));
		break;
	}
	case IPPROTO_TCP: {
		struct tcphdr *t = h;

		if ((void *)(t + 1) > data_end)
			return -1;
		t->source = a->nat_sport;
		t->dest = a->nat_dport;
		t->check = bpf_htons(csum_apply(bpf_ntohs(t->check), a->l4_delta));
		break;
	}
	case IPPROTO_ICMPV6: {
		struct icmp_echo *c = h;

		if ((void *)(c + 1) > data_end)
			return -1;
		c->id = a->nat_sport;
		c->checksum = bpf_htons(csum_apply(bpf_ntohs(c->checksum), a->l4_delta));
		break;
	}
	}
	return 0;
}

/* encap_write6 writes the outer headers from a's template in front of a
 * rewritten IPv6 inner frame of inner_len bytes whose L4 segment is l4len
 * bytes with no extension headers before it (fp_forward6 punts those
 * when a checksum is to be computed). The outer UDP checksum is encap.h's
 * LCO identity: TCP, UDP and ICMPv6 all sum to the negation of their
 * IPv6 pseudo-header. */
static __always_inline int encap_write6(void *data, void *data_end, const struct fp_action6 *a,
					__u8 proto, __u32 inner_len, __u32 l4len)
{
	__u32 ulen = XGW_ENCAP_UDP_LEN + inner_len, s, ps;
	const __u64 *src = (const __u64 *)a->outer;
	__u64 *dst = data;
	struct udphdr *oudp;
	void *iip;
	__u16 c;

	if (a->flags & FP_F_UNDERLAY6) {
		struct ipv6hdr *oip = data + XGW_ENCAP6_IP_OFF;

		iip = data + XGW_ENCAP6_LEN + ETH_HLEN;
		if (iip + IP6_HLEN > data_end)
			return -1;
		/* 78 bytes: nine words, a half and a quarter. */
#pragma unroll
		for (int i = 0; i < 9; i++)
			dst[i] = src[i];
		*(__u32 *)(data + 72) = *(const __u32 *)(a->outer + 72);
		*(__u16 *)(data + 76) = *(const __u16 *)(a->outer + 76);
		oip->payload_len = bpf_htons(ulen);
		oudp = data + XGW_ENCAP6_UDP_OFF;
	} else {
		struct iphdr *oip = data + XGW_ENCAP_IP_OFF;
		__u32 tot = XGW_ENCAP_IP_LEN + inner_len;

		iip = data + XGW_ENCAP_LEN + ETH_HLEN;
		if (iip + IP6_HLEN > data_end)
			return -1;
#pragma unroll
		for (int i = 0; i < 7; i++)
			dst[i] = src[i];
		*(__u16 *)(data + 56) = *(const __u16 *)(a->outer + 56);
		oip->tot_len = bpf_htons(tot);
		oip->check = bpf_htons((__u16)~csum_fold(a->outer_ip_sum + tot));
		oudp = data + XGW_ENCAP_UDP_OFF;
	}
	if ((void *)(oudp + 1) > data_end)
		return -1;
	oudp->len = bpf_htons(ulen);
	if (!(a->flags & FP_F_OUTER_CSUM))
		return 0;
	s = a->outer_udp_sum + 2 * ulen + ipv6_hdr_sum(iip);
	ps = a->addr_sum + proto + l4len;
	s += (__u16)~csum_fold(ps);
	c = ~csum_fold(s);
	oudp->check = bpf_htons(c ? c : 0xffff);
	return 0;
}

/* fp_forward6 is fp_forward for IPv6: look k up in xgw_flows6 and, on a
 * hit that needs no punt, do the whole job and return XDP_REDIRECT.
 * geneve is the underlay family the frame came in on (FP_GENEVE_*), with
 * its outer source in src4 or src6, which must be a known chassis. */
static __always_inline int fp_forward6(struct xdp_md *ctx, struct fp_key6 *k, struct fp_pkt6 *p,
				       __u32 rx_len, __u32 hit_stat, int geneve, __be32 src4,
				       const __u8 *src6)
{
	struct fp_action6 *a = NULL;
	__u32 port, inner_len, l4, *ifindex, zero = 0, *used, enc;
	void *data, *data_end, *in;
	int encap, why, shift, known;

	used = bpf_map_lookup_elem(&xgw_flows6_used, &zero);
	if (used && *used)
		a = bpf_map_lookup_elem(&xgw_flows6, k);
	known = geneve == FP_GENEVE_V4 ? vtep_known(src4) :
		geneve == FP_GENEVE_V6 ? vtep6_known(src6) : 1;
	if (!a) {
		why = !known ? FP_PUNT_UNKNOWN_VTEP : FP_MISS6;
		goto punt;
	}
	if (!known) {
		why = FP_PUNT_UNKNOWN_VTEP;
		goto punt;
	}
	why = fp_validate6(ctx, k, p, a, geneve);
	if (why)
		goto punt;
	if (p->hop <= a->hop_dec) {
		why = FP_PUNT_TTL;
		goto punt;
	}
	if (k->proto == IPPROTO_TCP && p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
		why = p->tcp_flags & TCP_RST ? FP_PUNT_RST :
		      p->tcp_flags & TCP_FIN ? FP_PUNT_FIN : FP_PUNT_SYN;
		goto punt;
	}
	if (k->proto == IPPROTO_ICMPV6 && p->icmp_type != a->icmp_type) {
		why = FP_PUNT_PROTO;
		goto punt;
	}
	encap = a->flags & FP_F_ENCAP;
	enc = !encap ? 0 : a->flags & FP_F_UNDERLAY6 ? XGW_ENCAP6_LEN : XGW_ENCAP_LEN;
	inner_len = p->inner_end - p->inner_off;
	/* The LCO identity needs a segment right after the fixed header
	 * whose checksum covers it. */
	if (encap && (a->flags & FP_F_OUTER_CSUM) &&
	    (p->ext || (k->proto == IPPROTO_UDP && p->ulen != p->plen))) {
		why = FP_PUNT_CSUM;
		goto punt;
	}
	port = a->out_port;
	ifindex = bpf_map_lookup_elem(&xgw_tx_ports, &port);
	if (!ifindex || !*ifindex) {
		why = FP_PUNT_NO_PORT;
		goto punt;
	}
	shift = (int)p->inner_off - (int)enc;
	if (encap) {
		__u32 mtu_len = 0;

		if (bpf_check_mtu(ctx, *ifindex, &mtu_len, -shift, 0)) {
			why = FP_PUNT_TOO_BIG;
			goto punt;
		}
	}
	bpf_redirect(*ifindex, 0);
	if (p->inner_end < rx_len && bpf_xdp_adjust_tail(ctx, -(int)(rx_len - p->inner_end))) {
		why = FP_PUNT_HEADROOM;
		goto punt;
	}
	if (shift && bpf_xdp_adjust_head(ctx, shift)) {
		why = FP_PUNT_HEADROOM;
		goto punt;
	}

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	in = data + (enc & 0x7f);
	l4 = p->l4_off - p->inner_off;
	if (rewrite_inner6(in, data_end, a, k->proto, l4))
		return XDP_ABORTED;
	if (encap && encap_write6(data, data_end, a, k->proto, inner_len, p->plen))
		return XDP_ABORTED;

	a->packets++; /* one writer: see struct fp_action */
	a->bytes += IP6_HLEN + p->plen;
	a->last_seen = bpf_ktime_get_coarse_ns();
	fp_stat_inc(hit_stat, rx_len);
	return XDP_REDIRECT;

punt:
	fp_stat_inc(why, rx_len);
	return FP_CONTINUE;
}

/* fp_inner6 forwards the IPv6 frame inside Geneve (p's inner_off,
 * inner_end, ovn_opt and k's vni set), from either underlay; the caller
 * counts a punt (with the unknown-source rule of fp_egress). */
static __always_inline int fp_inner6(struct xdp_md *ctx, struct fp_key6 *k, struct fp_pkt6 *p,
				     __u32 len, int geneve, __be32 src4, const __u8 *src6,
				     int *why)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *ieth;

	*why = parse_inner6(data, data_end, k, p);
	if (*why)
		return FP_CONTINUE;
	ieth = data + (p->inner_off & 0x1ff);
	if ((void *)(ieth + 1) > data_end) {
		*why = FP_PUNT_MALFORMED;
		return FP_CONTINUE;
	}
	__builtin_memcpy(k->inner_dst, ieth->h_dest, ETH_ALEN);
	*why = 0;
	return fp_forward6(ctx, k, p, len, FP_HIT_EGRESS6, geneve, src4, src6);
}

/* fp_egress_v4_inner6 takes over fp_egress (IPv4 underlay) for an inner
 * IPv6 frame at inner_off. */
static __always_inline int fp_egress_v4_inner6(struct xdp_md *ctx, __u32 inner_off,
					       __u32 inner_end, __u32 vni, __u64 ovn_opt,
					       __be32 outer_src)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct fp_key6 k = { .in_port = XGW_PORT_UNDERLAY, .vni = vni };
	struct fp_pkt6 p = { .inner_off = inner_off, .inner_end = inner_end, .ovn_opt = ovn_opt };
	__u32 len = data_end - data;
	int ret, why;

	ret = fp_inner6(ctx, &k, &p, len, FP_GENEVE_V4, outer_src, NULL, &why);
	if (!why)
		return ret;
	if (!vtep_known(outer_src))
		why = FP_PUNT_UNKNOWN_VTEP;
	fp_stat_inc(why, len);
	return FP_CONTINUE;
}

/* fp_egress6 handles Geneve over an IPv6 underlay to our VTEP (the caller
 * checked UDP to the Geneve port; ext says the outer header had
 * extension headers, which the fast path does not take). */
static __always_inline int fp_egress6(struct xdp_md *ctx, int tagged, int ext)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *oip = data + OUTER6_IP_OFF;
	struct fp_key6 k = { .in_port = XGW_PORT_UNDERLAY };
	struct fp_pkt6 p = {};
	__u32 len = data_end - data;
	__u8 src6[16] = {};
	struct ethhdr *ieth;
	int ret, why;

	if (tagged) {
		why = FP_PUNT_VLAN;
		goto punt;
	}
	if ((void *)(oip + 1) > data_end)
		return FP_CONTINUE;
	__builtin_memcpy(src6, &oip->saddr, 16);
	if (ext) {
		why = FP_PUNT_IP_OPTIONS;
		goto punt;
	}
	if (OUTER6_IP_OFF + IP6_HLEN + bpf_ntohs(oip->payload_len) > len) {
		why = FP_PUNT_MALFORMED;
		goto punt;
	}
	why = geneve_udp(data, data_end, OUTER6_UDP_OFF,
			 OUTER6_IP_OFF + IP6_HLEN + bpf_ntohs(oip->payload_len), &p.inner_off,
			 &p.inner_end, &k.vni, &p.ovn_opt);
	if (why)
		goto punt;
	ieth = data + (p.inner_off & 0x1ff);
	if ((void *)(ieth + 1) > data_end) {
		why = FP_PUNT_MALFORMED;
		goto punt;
	}
	if (ieth->h_proto == bpf_htons(ETH_P_IP)) {
		why = FP_PUNT_UNDERLAY6_INNER4;
		goto punt;
	}
	if (ieth->h_proto != bpf_htons(ETH_P_IPV6)) {
		why = ieth->h_proto == bpf_htons(ETH_P_8021Q) || ieth->h_proto == bpf_htons(ETH_P_8021AD) ?
			      FP_PUNT_VLAN :
			      FP_PUNT_NOT_IPV4;
		goto punt;
	}
	ret = fp_inner6(ctx, &k, &p, len, FP_GENEVE_V6, 0, src6, &why);
	if (!why)
		return ret;
punt:
	if (!vtep6_known(src6))
		why = FP_PUNT_UNKNOWN_VTEP;
	fp_stat_inc(why, len);
	return FP_CONTINUE;
}

/* fp_ingress6 handles plain IPv6 to one of our NAT66 addresses. */
static __always_inline int fp_ingress6(struct xdp_md *ctx, int tagged)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct fp_key6 k = { .in_port = XGW_PORT_EXTERNAL };
	struct fp_pkt6 p = {};
	__u32 len = data_end - data;
	int why;

	if (tagged) {
		why = FP_PUNT_VLAN;
		goto punt;
	}
	p.inner_end = len;
	why = parse_inner6(data, data_end, &k, &p);
	if (why)
		goto punt;
	return fp_forward6(ctx, &k, &p, len, FP_HIT_INGRESS6, FP_GENEVE_NONE, 0, NULL);

punt:
	fp_stat_inc(why, len);
	return FP_CONTINUE;
}

#endif /* XGW_FASTPATH6_H */
