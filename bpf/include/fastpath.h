/* The offload fast path: an established flow found in `xgw_flows` is
 * forwarded entirely here (decap, NAT, routing rewrite, encap) and
 * redirected through xgw_tx_ports. Anything else returns FP_CONTINUE and the
 * frame goes on to xdp_gw's steering exactly as without a fast path. */
#ifndef XGW_FASTPATH_H
#define XGW_FASTPATH_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow.h"
#include "fpstats.h"
#include "geneve.h"
#include "inner.h"
#include "nat.h"
#include "encap.h"
#include "validate.h"
#include "vtepcache.h"

#define FP_CONTINUE -1

#include "fastpath6.h"

/* fp_forward looks k up and, on a hit that needs no punt, does the whole
 * job and returns XDP_REDIRECT. rx_len is the frame as received. geneve
 * (a constant per caller) says the frame came from the underlay with
 * outer source outer_src, which must be a known chassis (xgw_vteps): a
 * hit checks it first, through the flow's cache (include/vtepcache.h); a
 * miss looks it up only to name the punt. */
static __always_inline int fp_forward(struct xdp_md *ctx, struct fp_key *k, struct fp_pkt *p,
				      __u32 rx_len, __u32 hit_stat, int geneve, __be32 outer_src)
{
	struct fp_action *a = NULL;
	__u32 port, inner_len, *ifindex, zero = 0, *used;
	void *data, *data_end, *in;
	int encap, why, shift;

	used = bpf_map_lookup_elem(&xgw_flows_used, &zero); /* inlined: an array */
	if (used && *used)
		a = bpf_map_lookup_elem(&xgw_flows, k);
	if (!a) {
		why = geneve && !vtep_known(outer_src) ? FP_PUNT_UNKNOWN_VTEP : FP_MISS;
		goto punt;
	}
	if (geneve && !vtep_known_cached(a, outer_src)) {
		why = FP_PUNT_UNKNOWN_VTEP;
		goto punt;
	}
	why = fp_validate(ctx, k, p, a);
	if (why)
		goto punt;
	if (p->ttl <= a->ttl_dec) {
		why = FP_PUNT_TTL;
		goto punt;
	}
	if (k->proto == IPPROTO_TCP && p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
		why = p->tcp_flags & TCP_RST ? FP_PUNT_RST :
		      p->tcp_flags & TCP_FIN ? FP_PUNT_FIN : FP_PUNT_SYN;
		goto punt;
	}
	if (k->proto == IPPROTO_ICMP && p->icmp_type != a->icmp_type) {
		why = FP_PUNT_PROTO;
		goto punt;
	}
	encap = a->flags & FP_F_ENCAP;
	inner_len = p->inner_end - p->inner_off;
	if (encap && (a->flags & FP_F_OUTER_CSUM)) {
		/* The LCO identity needs a checksum that covers the segment. */
		if (k->proto == IPPROTO_UDP &&
		    (!p->l4_csum || p->ulen != p->tot_len - sizeof(struct iphdr))) {
			why = FP_PUNT_CSUM;
			goto punt;
		}
	}
	port = a->out_port;
	ifindex = bpf_map_lookup_elem(&xgw_tx_ports, &port);
	if (!ifindex || !*ifindex) {
		why = FP_PUNT_NO_PORT;
		goto punt;
	}
	shift = (int)p->inner_off - (encap ? XGW_ENCAP_LEN : 0);
	if (encap) {
		__u32 mtu_len = 0;

		if (bpf_check_mtu(ctx, *ifindex, &mtu_len, -shift, 0)) {
			why = FP_PUNT_TOO_BIG;
			goto punt;
		}
	}
	bpf_redirect(*ifindex, 0); /* XDP_REDIRECT: flags 0 cannot fail */
	/* Trailing bytes (outer link padding, or the inner datagram's) first:
	 * harmless if the head then fails. */
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
	in = encap ? data + XGW_ENCAP_LEN : data;
	if (rewrite_inner(in, data_end, a, k->proto))
		return XDP_ABORTED;
	if (encap && encap_write(data, data_end, a, p, k->proto, inner_len))
		return XDP_ABORTED;

	a->packets++; /* one writer: see struct fp_action */
	a->bytes += p->tot_len;
	a->last_seen = bpf_ktime_get_coarse_ns();
	fp_stat_inc(hit_stat, rx_len);
	return XDP_REDIRECT;

punt:
	fp_stat_inc(why, rx_len);
	return FP_CONTINUE;
}

/* fp_egress handles Geneve to our VTEP (the caller checked IPv4, not a
 * fragment, UDP to vtep_ip:geneve_port). outer_src is the outer IPv4
 * source: only a known chassis (xgw_vteps) is forwarded, so a spoofed
 * packet that carries an offloaded flow's inner 5-tuple, VNI and MAC goes
 * to software, which drops it. The check is the first of a hit
 * (fp_forward); a frame punted before the flow lookup is looked up here,
 * so that from an unknown source every punt is geneve-unknown-source, as
 * when the check came first. tagged and l4 say where the caller's parse
 * ended, to refuse VLAN tags and outer IPv4 options. */
static __always_inline int fp_egress(struct xdp_md *ctx, int tagged, __be32 outer_src, void *l4)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct fp_key k = { .in_port = XGW_PORT_UNDERLAY };
	struct fp_pkt p = {};
	__u32 len = data_end - data;
	struct ethhdr *ieth;
	int why;

	if (tagged) {
		why = FP_PUNT_VLAN;
		goto punt;
	}
	if (l4 != data + OUTER_UDP_OFF) {
		why = FP_PUNT_IP_OPTIONS;
		goto punt;
	}
	why = geneve_outer(data, data_end, &p.inner_off, &p.inner_end, &k.vni, &p.ovn_opt);
	if (why)
		goto punt;
	why = parse_inner(data, data_end, &k, &p);
	if (why == FP_PUNT_NOT_IPV4) {
		/* An IPv6 overlay: include/fastpath6.h (parse_inner left
		 * inner_end alone for a frame that is not IPv4). */
		ieth = data + (p.inner_off & 0x1ff);
		if ((void *)(ieth + 1) <= data_end && ieth->h_proto == bpf_htons(ETH_P_IPV6))
			return fp_egress_v4_inner6(ctx, p.inner_off, p.inner_end, k.vni, p.ovn_opt,
						   outer_src);
	}
	if (why)
		goto punt;
	ieth = data + (p.inner_off & 0x1ff);
	if ((void *)(ieth + 1) > data_end)
		return FP_CONTINUE;
	__builtin_memcpy(k.inner_dst, ieth->h_dest, ETH_ALEN);
	return fp_forward(ctx, &k, &p, len, FP_HIT_EGRESS, 1, outer_src);

punt:
	if (!vtep_known(outer_src))
		why = FP_PUNT_UNKNOWN_VTEP;
	fp_stat_inc(why, len);
	return FP_CONTINUE;
}

/* fp_ingress handles plain IPv4 to one of our NAT addresses. */
static __always_inline int fp_ingress(struct xdp_md *ctx, int tagged)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct fp_key k = { .in_port = XGW_PORT_EXTERNAL };
	struct fp_pkt p = {};
	__u32 len = data_end - data;
	int why;

	if (tagged) {
		why = FP_PUNT_VLAN;
		goto punt;
	}
	p.inner_end = len;
	why = parse_inner(data, data_end, &k, &p);
	if (why)
		goto punt;
	return fp_forward(ctx, &k, &p, len, FP_HIT_INGRESS, 0, 0);

punt:
	fp_stat_inc(why, len);
	return FP_CONTINUE;
}

#endif /* XGW_FASTPATH_H */
