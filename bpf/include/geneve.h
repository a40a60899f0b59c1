/* Outer header checks for the fast path's egress direction. They repeat
 * geneve.Decap: whatever Decap would reject is punted, so the software
 * path still drops (and counts) it. */
#ifndef XGW_GENEVE_H
#define XGW_GENEVE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "fpstats.h"

#define GENEVE_HLEN 8
#define GENEVE_MAX_OPT_LEN 252 /* 63 words */
#define GENEVE_PROTO_ETH 0x6558
#define GENEVE_F_OAM 0x80
#define OVN_OPT_CLASS 0x0102
#define OVN_OPT_TYPE 0x80
#define GENEVE_OPT_CRITICAL 0x80

/* Fixed offsets of an untagged outer header without IPv4 options. */
#define OUTER_IP_OFF 14
#define OUTER_UDP_OFF 34
#define OUTER_GENEVE_OFF 42

struct geneve_hdr {
	__u8 ver_optlen; /* 2 bits version, 6 bits option length in words */
	__u8 flags;      /* O, C, reserved */
	__be16 proto;
	__u8 vni[3];
	__u8 rsvd;
};

/* ipv4_hdr_sum is the folded sum of a 20-byte IPv4 header as a host-order
 * word (what adding its ten words with csum_be16 gives). It adds the five
 * 32-bit words as they lie in memory and swaps the folded result: a one's
 * complement sum does not depend on byte order or on the width of the
 * words added (RFC 1071 2.B, 2.C), and the zero/0xffff distinction is
 * kept (the sum is 0 only if every byte is). Five loads and no swap per
 * word instead of ten loads and ten swaps; an unaligned load (the outer
 * header sits at offset 14) is a plain load for the BPF JITs. */
static __always_inline __u16 ipv4_hdr_sum(const struct iphdr *ip)
{
	const __u32 *w = (const __u32 *)ip;
	__u64 s = (__u64)w[0] + w[1] + w[2] + w[3] + w[4];

	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return bpf_ntohs(csum_fold((__u32)s));
}

/* geneve_udp checks the outer UDP and Geneve headers of a frame whose
 * outer UDP header starts at udp_off (a constant per caller) and whose
 * outer IP datagram ends at ip_end, as geneve.Decap and
 * geneve.Decapped.decapUDP do. It sets *inner_off and *end (the inner
 * Ethernet frame is [inner_off, end); bytes after end are link padding),
 * *vni and *ovn_opt (the OVN option's value with bit 32 set, 0 without
 * the option), and returns 0 or an FP_PUNT_* reason. */
static __always_inline int geneve_udp(void *data, void *data_end, const __u32 udp_off,
				      __u32 ip_end, __u32 *inner_off, __u32 *end, __u32 *vni,
				      __u64 *ovn_opt)
{
	const __u32 g_off = udp_off + sizeof(struct udphdr);
	struct udphdr *udp = data + udp_off;
	struct geneve_hdr *g = data + g_off;
	__u32 ulen, optlen, off, opt_end;
	int ovn = 0;

	if ((void *)(g + 1) > data_end)
		return FP_PUNT_MALFORMED;
	ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || udp_off + ulen > ip_end)
		return FP_PUNT_MALFORMED;
	*end = udp_off + ulen;
	if (g_off + GENEVE_HLEN > *end)
		return FP_PUNT_MALFORMED;
	if (g->ver_optlen >> 6)
		return FP_PUNT_GENEVE;
	optlen = (g->ver_optlen & 0x3f) * 4;
	opt_end = g_off + GENEVE_HLEN + optlen;
	if (opt_end > *end)
		return FP_PUNT_GENEVE;
	*vni = (__u32)g->vni[0] << 16 | (__u32)g->vni[1] << 8 | g->vni[2];

	/* Options (RFC 8926 §3.5): take one OVN option of one word, skip
	 * others unless critical. At most 63 (one word each). */
	off = g_off + GENEVE_HLEN;
	for (int i = 0; i < GENEVE_MAX_OPT_LEN / 4; i++) {
		__u8 *o;
		__u32 n;

		if (off >= opt_end)
			break;
		off &= 0x1ff; /* bound for the verifier: off < opt_end <= 322 */
		o = data + off;
		if ((void *)(o + 4) > data_end || off + 4 > opt_end)
			return FP_PUNT_GENEVE;
		n = 4 + (o[3] & 0x1f) * 4;
		if (off + n > opt_end)
			return FP_PUNT_GENEVE;
		if (o[0] == (OVN_OPT_CLASS >> 8) && o[1] == (OVN_OPT_CLASS & 0xff) && o[2] == OVN_OPT_TYPE) {
			if (n != 8 || ovn || (void *)(o + 8) > data_end)
				return FP_PUNT_GENEVE;
			ovn = 1;
			*ovn_opt = 1ULL << 32 | (__u32)o[4] << 24 | (__u32)o[5] << 16 |
			       (__u32)o[6] << 8 | o[7];
		} else if (o[2] & GENEVE_OPT_CRITICAL) {
			return FP_PUNT_GENEVE;
		}
		off += n;
	}
	if (off < opt_end)
		return FP_PUNT_GENEVE;
	if (g->flags & GENEVE_F_OAM)
		return FP_PUNT_GENEVE;
	if (g->proto != bpf_htons(GENEVE_PROTO_ETH))
		return FP_PUNT_GENEVE;
	if (opt_end + ETH_HLEN > *end)
		return FP_PUNT_MALFORMED;
	*inner_off = opt_end;
	return 0;
}

/* geneve_outer checks the outer IPv4/UDP/Geneve of a frame already known
 * to be untagged IPv4 (IHL 5), not a fragment, UDP to our VTEP and Geneve
 * port; the rest is geneve_udp's. */
static __always_inline int geneve_outer(void *data, void *data_end, __u32 *inner_off,
					 __u32 *end, __u32 *vni, __u64 *ovn_opt)
{
	struct iphdr *ip = data + OUTER_IP_OFF;
	struct geneve_hdr *g = data + OUTER_GENEVE_OFF;
	__u32 len = data_end - data;
	__u32 tot;

	if ((void *)(g + 1) > data_end)
		return FP_PUNT_MALFORMED;
	if (ipv4_hdr_sum(ip) != 0xffff)
		return FP_PUNT_MALFORMED;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < sizeof(*ip) || OUTER_IP_OFF + tot > len)
		return FP_PUNT_MALFORMED;
	return geneve_udp(data, data_end, OUTER_UDP_OFF, OUTER_IP_OFF + tot, inner_off, end, vni,
			  ovn_opt);
}

#endif /* XGW_GENEVE_H */
