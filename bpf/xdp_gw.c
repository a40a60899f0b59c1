//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdp_gw: the gateway's XDP entry point. It decides, per frame, between the
 * Linux stack (control traffic: ARP, ICMP/SSH/BGP to the host, IPv6) and our
 * AF_XDP socket on the same RX queue (Geneve to our VTEP, anything to a NAT
 * address). Before either redirect, the offload fast path (include/
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

/* Set from Go before load (CollectionSpec.Variables). Network byte order so
 * that the comparisons below need no swap. */
volatile const __be16 geneve_port = bpf_htons(6081);
volatile const __be32 vtep_ip = 0;
/* 1 in the object file, which is what `ip link ... object` loads: take
 * the parameters above from xgw_config instead. xgw's loader sets 0; the
 * verifier then prunes the map read (the constant is frozen). */
volatile const __u8 config_in_map = 1;

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
	if (proto != bpf_htons(ETH_P_IP))
		goto pass;
	tagged = c.pos != data + sizeof(*eth);
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
