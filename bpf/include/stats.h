/* Per-CPU verdict counters; Go sums them across CPUs. */
#ifndef XGW_STATS_H
#define XGW_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum xgw_stat {
	XGW_STAT_REDIRECT_GENEVE = 0, /* to the XSK: Geneve for our VTEP */
	XGW_STAT_REDIRECT_NAT = 1,    /* to the XSK: dst is a NAT address */
	XGW_STAT_PASS = 2,            /* not ours: up the Linux stack */
	XGW_STAT_NO_SOCKET = 3,       /* ours but no XSK on this queue: passed */
	XGW_STAT_MALFORMED = 4,       /* truncated or bad header: passed */
	XGW_STAT_REDIRECT_ARP = 5,    /* to the XSK: ARP request for a NAT address */
	XGW_STAT_PASS_HOST = 6,       /* to a NAT address shared with the host, not a
				       * reply to xgw's SNAT: up the Linux stack */
	XGW_STAT_REDIRECT_ND = 7,     /* to the XSK: neighbour solicitation for a NAT66 address */
	XGW_STAT_REDIRECT_ROUTED = 8, /* to the XSK: IPv6 to a routed (non-NAT) prefix */
	XGW_STAT_MAX = 9,
};

struct xgw_counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XGW_STAT_MAX);
	__type(key, __u32);
	__type(value, struct xgw_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_stats SEC(".maps");

static __always_inline void stat_inc(__u32 idx, __u64 bytes)
{
	struct xgw_counter *c = bpf_map_lookup_elem(&xgw_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

#endif /* XGW_STATS_H */
