/* Bounds-checked header parsing for XDP. Every accessor returns NULL or a
 * negative value when the header does not fit in the frame, so callers can
 * XDP_PASS anything short or odd without touching memory past data_end. */
#ifndef XGW_PARSE_H
#define XGW_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#ifndef ETH_P_ARP
#define ETH_P_ARP 0x0806
#endif

#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* icmp_echo is the ICMP echo header; <linux/icmp.h> drags in libc's
 * socket headers, which do not build for BPF. */
struct icmp_echo {
	__u8 type;
	__u8 code;
	__be16 checksum;
	__be16 id;
	__be16 seq;
};

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

/* hdr_cursor walks the frame; off is the offset of the next header. */
struct hdr_cursor {
	void *pos;
	void *end;
};

/* parse_eth consumes Ethernet and at most one 802.1Q/802.1ad tag and returns
 * the inner ethertype in network order, or -1 if truncated. */
static __always_inline int parse_eth(struct hdr_cursor *c, struct ethhdr **eth)
{
	struct ethhdr *e = c->pos;
	__be16 proto;

	if ((void *)(e + 1) > c->end)
		return -1;
	*eth = e;
	c->pos = e + 1;
	proto = e->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *v = c->pos;

		if ((void *)(v + 1) > c->end)
			return -1;
		c->pos = v + 1;
		proto = v->proto;
	}
	return proto;
}

/* parse_ipv4 returns the IPv4 header (options skipped) or NULL if the header
 * is truncated or malformed (version != 4, ihl < 5). */
static __always_inline struct iphdr *parse_ipv4(struct hdr_cursor *c)
{
	struct iphdr *ip = c->pos;
	__u32 hlen;

	if ((void *)(ip + 1) > c->end)
		return NULL;
	if (ip->version != 4 || ip->ihl < 5)
		return NULL;
	hlen = ip->ihl * 4;
	if (c->pos + hlen > c->end)
		return NULL;
	c->pos += hlen;
	return ip;
}

/* ipv4_is_fragment is true for any fragment (first or later). */
static __always_inline int ipv4_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IP_MF | IP_OFFMASK)) != 0;
}

static __always_inline struct udphdr *parse_udp(struct hdr_cursor *c)
{
	struct udphdr *udp = c->pos;

	if ((void *)(udp + 1) > c->end)
		return NULL;
	c->pos = udp + 1;
	return udp;
}

/* arp_eth_ipv4 is an ARP packet for IPv4 over Ethernet (RFC 826); byte
 * arrays keep it unpadded (28 bytes) whatever the alignment. */
struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
};

#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST 1

/* parse_arp_request returns an IPv4-over-Ethernet ARP request, or NULL
 * for anything else (a reply, another hardware or protocol type, a
 * truncated frame). */
static __always_inline struct arp_eth_ipv4 *parse_arp_request(struct hdr_cursor *c)
{
	struct arp_eth_ipv4 *a = c->pos;

	if ((void *)(a + 1) > c->end)
		return NULL;
	if (a->htype != bpf_htons(ARP_HTYPE_ETHER) || a->ptype != bpf_htons(ETH_P_IP) ||
	    a->hlen != 6 || a->plen != 4 || a->op != bpf_htons(ARP_OP_REQUEST))
		return NULL;
	c->pos = a + 1;
	return a;
}

#endif /* XGW_PARSE_H */
