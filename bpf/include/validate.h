/* The router's input checks on the fast path. They repeat what the software
 * pipeline drops (datapath/validate.go, datapath/egress.go; RFC 1812
 * 5.2.2 and 5.3.7, OVN's lr_in_ip_input, RFC 8926 §3.3): a frame of an
 * offloaded flow that fails one is punted to AF_XDP under the reason that
 * names the software drop, and software drops and counts it. They run on
 * flow hits only: a miss goes to software, which checks it anyway.
 *
 * Costs (BenchmarkXDP, bpf/README.md): the inner IPv4 header sum is ten
 * adds, the martian tests four compares, the outport one compare; the
 * outer UDP checksum is a pass over the whole datagram with bpf_csum_diff,
 * paid only when the chassis sends one (OVN's default, csum=true). */
#ifndef XGW_VALIDATE_H
#define XGW_VALIDATE_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "flow.h"
#include "fpstats.h"
#include "geneve.h"
#include "inner.h"

/* Checks a test or benchmark may turn off (Options.skipChecks) to show
 * that a test fails without one, or what one costs. 0 in production: the
 * verifier then removes the tests of the constant. */
#define FP_CHECK_IP_CSUM 0x01
#define FP_CHECK_MARTIAN 0x02
#define FP_CHECK_OUTPORT 0x04
#define FP_CHECK_OUTER_CSUM 0x08

volatile const __u32 fp_skip_checks = 0;

/* ipv4_martian is datapath.martian: 0/8, 127/8, 224/4 and 240/4 (the
 * limited broadcast included). */
static __always_inline int ipv4_martian(__be32 a)
{
	__u8 b = bpf_ntohl(a) >> 24;

	return b == 0 || b == 127 || b >= 224;
}

/* udp_sum_ok verifies the UDP checksum of the datagram at udp_off (a
 * constant per caller) over the length its header names, with s the
 * pseudo-header's sum without that length: true when the datagram and its
 * pseudo-header sum to 0xffff. bpf_csum_diff sums in memory order; its
 * folded result is byte-swapped into the host-order words csum.h uses. */
static __always_inline int udp_sum_ok(void *data, void *data_end, const __u32 udp_off, __u32 s)
{
	struct udphdr *udp = data + udp_off;
	__u32 len, off;
	__s64 ws = 0;
	__u8 *b;

	if ((void *)(udp + 1) > data_end)
		return 0;
	len = bpf_ntohs(udp->len);
	if (len < sizeof(*udp) || udp_off + len > FP_MAX_FRAME)
		return 0;
	s += len;
	/* Whole 512-byte blocks (bpf_csum_diff's limit), then one chunk per
	 * bit of the rest: the chunk of n bytes starts after all larger ones,
	 * at len & ~(2n - 1). Offsets stay variables, not constants per path,
	 * so the verifier's states merge. */
	for (int i = 0; i < (FP_MAX_FRAME + 1) / 512; i++) {
		if (i >= (len >> 9))
			break;
		b = data + udp_off + i * 512;
		if ((void *)(b + 512) > data_end)
			return 0;
		ws = bpf_csum_diff(NULL, 0, (__be32 *)b, 512, (__wsum)ws);
	}
#define SUM_CHUNK(n)                                                              \
	if (len & (n)) {                                                          \
		off = (len & ~(2 * (n) - 1)) & FP_MAX_FRAME;                      \
		b = data + udp_off + off;                                         \
		if ((void *)(b + (n)) > data_end)                                 \
			return 0;                                                 \
		ws = bpf_csum_diff(NULL, 0, (__be32 *)b, (n), (__wsum)ws);         \
	}
	SUM_CHUNK(256)
	SUM_CHUNK(128)
	SUM_CHUNK(64)
	SUM_CHUNK(32)
	SUM_CHUNK(16)
	SUM_CHUNK(8)
	SUM_CHUNK(4)
#undef SUM_CHUNK
	if (ws < 0)
		return 0;
	s += bpf_ntohs(csum_fold((__u32)ws));
	/* At most three bytes are left, from an even offset of the datagram
	 * (which starts at an even one): a high byte, a low, a high. */
	off = (len & ~3) & FP_MAX_FRAME;
	b = data + udp_off + off;
	if (len & 3) {
		if ((void *)(b + 1) > data_end)
			return 0;
		s += (__u32)b[0] << 8;
		if ((len & 3) > 1) {
			if ((void *)(b + 2) > data_end)
				return 0;
			s += b[1];
		}
		if ((len & 3) > 2) {
			if ((void *)(b + 3) > data_end)
				return 0;
			s += (__u32)b[2] << 8;
		}
	}
	return csum_fold(s) == 0xffff;
}

/* outer_udp_sum_ok verifies the outer UDP checksum of a Geneve frame over
 * the IPv4 underlay over the datagram its UDP length names (geneve_outer
 * checked it against the frame; p->inner_end is the inner datagram's end
 * by now, which padding inside the tunnel puts before the outer end):
 * true when it is absent (0) or right. */
static __always_inline int outer_udp_sum_ok(void *data, void *data_end)
{
	struct iphdr *ip = data + OUTER_IP_OFF;
	struct udphdr *udp = data + OUTER_UDP_OFF;

	if ((void *)(udp + 1) > data_end)
		return 0;
	if (!udp->check)
		return 1;
	return udp_sum_ok(data, data_end, OUTER_UDP_OFF,
			  csum_be32(ip->saddr) + csum_be32(ip->daddr) + IPPROTO_UDP);
}

/* fp_validate runs the checks on a frame whose flow a hit: on the (inner)
 * IPv4 header, and for Geneve on the OVN option and the outer checksum.
 * Returns 0 or the FP_PUNT_* reason. */
static __always_inline int fp_validate(struct xdp_md *ctx, const struct fp_key *k,
				       const struct fp_pkt *p, const struct fp_action *a)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (p->inner_off & 0x1ff) + ETH_HLEN;

	if (!(fp_skip_checks & FP_CHECK_IP_CSUM)) {
		if ((void *)(ip + 1) > data_end)
			return FP_PUNT_MALFORMED;
		if (ipv4_hdr_sum(ip) != 0xffff)
			return FP_PUNT_IP_CSUM;
	}
	if (!(fp_skip_checks & FP_CHECK_MARTIAN)) {
		if (ipv4_martian(k->src))
			return FP_PUNT_MARTIAN_SRC;
		if (ipv4_martian(k->dst))
			return FP_PUNT_MARTIAN_DST;
	}
	if (a->max_len && p->tot_len > a->max_len)
		return FP_PUNT_TOO_BIG;
	if (!(a->flags & FP_F_DECAP))
		return 0;
	if (!(fp_skip_checks & FP_CHECK_OUTPORT) && (a->flags & FP_F_OUTPORT) &&
	    (!(p->ovn_opt >> 32) || (__u16)p->ovn_opt != a->outport))
		return FP_PUNT_OUTPORT;
	if (!(fp_skip_checks & FP_CHECK_OUTER_CSUM) && !outer_udp_sum_ok(data, data_end))
		return FP_PUNT_GENEVE_CSUM;
	return 0;
}

#endif /* XGW_VALIDATE_H */
