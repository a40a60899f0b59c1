/* One's-complement arithmetic (RFC 1071/1624) on host-order 16-bit words,
 * written to match package packet bit for bit: the fast path and the Go
 * pipeline must emit identical checksums, 0 vs 0xffff included. */
#ifndef XGW_CSUM_H
#define XGW_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

/* csum_fold is packet.Fold: 32-bit accumulator to 16 bits, not complemented. */
static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* csum_apply is packet.Delta.Apply: HC' = ~(~HC + delta) (RFC 1624 eqn. 3). */
static __always_inline __u16 csum_apply(__u16 csum, __u32 delta)
{
	return (__u16)~csum_fold((__u32)(__u16)~csum + delta);
}

/* csum_apply_udp is packet.Delta.ApplyUDP: 0 means "no checksum" and stays
 * 0; a computed 0 is sent as 0xffff (RFC 768). */
static __always_inline __u16 csum_apply_udp(__u16 csum, __u32 delta)
{
	__u16 c;

	if (!csum)
		return 0;
	c = csum_apply(csum, delta);
	return c ? c : 0xffff;
}

/* csum_be16 is a header field as a host-order word of the sum. */
static __always_inline __u32 csum_be16(__be16 v)
{
	return bpf_ntohs(v);
}

/* csum_be32 is the two words of an IPv4 address. */
static __always_inline __u32 csum_be32(__be32 v)
{
	__u32 h = bpf_ntohl(v);

	return (h >> 16) + (h & 0xffff);
}

#endif /* XGW_CSUM_H */
