/* Geneve encapsulation from the flow's template. The outer UDP checksum
 * is computed in O(headers) with the local checksum offload identity
 * (Linux's LCO, Documentation/networking/checksum-offloads.rst): a TCP or
 * UDP segment with a valid checksum sums to the negation of its
 * pseudo-header, and an ICMP message to zero, so the inner frame's sum is
 * its Ethernet and IPv4 headers plus that term (link padding after the
 * datagram was trimmed: parse_inner). */
#ifndef XGW_ENCAP_H
#define XGW_ENCAP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "flow.h"
#include "geneve.h"
#include "inner.h"

/* encap_write writes the outer headers at data in front of an inner frame
 * of inner_len bytes (already rewritten). p describes the inner packet.
 * Returns -1 only on bounds the verifier wants and parsing excluded. */
static __always_inline int encap_write(void *data, void *data_end, const struct fp_action *a,
				       const struct fp_pkt *p, __u8 proto, __u32 inner_len)
{
	const __u64 *src = (const __u64 *)a->outer;
	__u64 *dst = data;
	struct iphdr *oip = data + XGW_ENCAP_IP_OFF;
	struct udphdr *oudp = data + XGW_ENCAP_UDP_OFF;
	struct iphdr *iip = data + XGW_ENCAP_LEN + ETH_HLEN;
	__u32 tot = XGW_ENCAP_IP_LEN + inner_len, ulen = XGW_ENCAP_UDP_LEN + inner_len;
	__u32 s;
	__u16 c;

	if ((void *)(iip + 1) > data_end)
		return -1;
	/* 58 bytes: seven words and a half-word. */
#pragma unroll
	for (int i = 0; i < 7; i++)
		dst[i] = src[i];
	*(__u16 *)(data + 56) = *(const __u16 *)(a->outer + 56);
	oip->tot_len = bpf_htons(tot);
	oip->check = bpf_htons((__u16)~csum_fold(a->outer_ip_sum + tot));
	oudp->len = bpf_htons(ulen);
	if (!(a->flags & FP_F_OUTER_CSUM))
		return 0; /* the template's checksum is zero: none (RFC 8926 §3.3) */

	/* Pseudo-header length + UDP length, then the inner IPv4 header as
	 * rewritten (not assumed valid: the pipeline does not check it). */
	s = a->outer_udp_sum + 2 * ulen + ipv4_hdr_sum(iip);
	if (proto != IPPROTO_ICMP) {
		__u32 ps = csum_be32(a->nat_src) + csum_be32(a->nat_dst) + proto +
			   (p->tot_len - sizeof(struct iphdr));

		s += (__u16)~csum_fold(ps);
	}
	c = ~csum_fold(s);
	oudp->check = bpf_htons(c ? c : 0xffff);
	return 0;
}

#endif /* XGW_ENCAP_H */
