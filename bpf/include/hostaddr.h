/* NAT addresses that are also the host's (XGW_NAT_HOST: a gateway router's
 * external port address that a rule SNATs to, the usual ovn-kubernetes
 * shape). The host keeps using the address (SSH, BGP, its own outbound
 * connections), so it and xgw share it by port: only what can be a reply
 * to xgw's SNAT goes to xgw, everything else to the kernel.
 *
 * Kept apart from xdp_gw.c so that the program's steering only calls
 * host_reply(). */
#ifndef XGW_HOSTADDR_H
#define XGW_HOSTADDR_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "parse.h"

#ifndef XGW_MAX_NAT_ADDRS
#define XGW_MAX_NAT_ADDRS 1024
#endif

/* xgw_host_port_range: the source ports xgw's SNAT allocates on a host
 * address (inclusive, host byte order). ICMP echo ids come from the same
 * range (nat.SNAT). */
struct xgw_port_range {
	__u16 min;
	__u16 max;
};

/* xgw_host_ports: host-shared NAT address (network order) -> its SNAT
 * range. An XGW_NAT_HOST address without an entry steers nothing: all of
 * its traffic stays the kernel's. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XGW_MAX_NAT_ADDRS);
	__type(key, __u32);
	__type(value, struct xgw_port_range);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_host_ports SEC(".maps");

static __always_inline int in_range(const struct xgw_port_range *r, __be16 port)
{
	__u16 p = bpf_ntohs(port);

	return p >= r->min && p <= r->max;
}

/* ICMP error types whose quoted datagram names the connection (as
 * packet.IsError in Go). */
static __always_inline int icmp_is_error(__u8 type)
{
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* host_reply reports whether a packet to the host-shared NAT address
 * ip->daddr (c at its L4 header) can be a reply to xgw's SNAT: TCP or UDP
 * to a port in the range, an ICMP echo reply with an id in it, or an ICMP
 * error quoting a TCP/UDP datagram or an echo request sent from the
 * address with a source port or id in it. Fragments are the kernel's: a
 * later fragment carries no port to tell. */
static __always_inline int host_reply(struct hdr_cursor *c, struct iphdr *ip)
{
	struct xgw_port_range *r;
	struct icmp_echo *icmp;
	struct iphdr *q;
	__u8 *l4;
	__u32 qlen;

	r = bpf_map_lookup_elem(&xgw_host_ports, &ip->daddr);
	if (!r || ipv4_is_fragment(ip))
		return 0;
	l4 = c->pos;
	switch (ip->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (l4 + 4 > (__u8 *)c->end)
			return 0;
		return in_range(r, ((__be16 *)l4)[1]);
	case IPPROTO_ICMP:
		icmp = (void *)l4;
		if ((void *)(icmp + 1) > c->end)
			return 0;
		if (icmp->type == ICMP_ECHOREPLY)
			return in_range(r, icmp->id);
		if (!icmp_is_error(icmp->type))
			return 0;
		q = (void *)(icmp + 1);
		if ((void *)(q + 1) > c->end || q->version != 4 || q->ihl < 5)
			return 0;
		if (q->saddr != ip->daddr)
			return 0;
		qlen = (q->ihl * 4) & 0x3c;
		l4 = (__u8 *)q + qlen;
		if (l4 + 8 > (__u8 *)c->end)
			return 0;
		switch (q->protocol) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
			return in_range(r, ((__be16 *)l4)[0]);
		case IPPROTO_ICMP:
			return l4[0] == ICMP_ECHO && in_range(r, ((struct icmp_echo *)l4)->id);
		}
	}
	return 0;
}

#endif /* XGW_HOSTADDR_H */
