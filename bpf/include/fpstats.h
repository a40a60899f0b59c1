/* Fast-path statistics: hits per direction, misses and punts by reason.
 * Per-CPU; Go sums them (FastPathStats). A punt falls through to the
 * steering of xdp_gw, so the frame is also counted in stats. */
#ifndef XGW_FPSTATS_H
#define XGW_FPSTATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "stats.h"

/* Order is the Go API (PuntReason); append only. */
enum fp_stat {
	FP_HIT_EGRESS = 0,     /* forwarded: decap, NAT, out external */
	FP_HIT_INGRESS = 1,    /* forwarded: NAT, encap, out underlay */
	FP_MISS = 2,           /* parsed fine, no flow */
	FP_PUNT_SYN = 3,       /* TCP SYN on an offloaded flow */
	FP_PUNT_FIN = 4,       /* TCP FIN: software tears the flow down */
	FP_PUNT_RST = 5,       /* TCP RST: likewise */
	FP_PUNT_FRAGMENT = 6,  /* (inner) IPv4 fragment */
	FP_PUNT_TTL = 7,       /* TTL <= the flow's hops: software sends the error */
	FP_PUNT_IP_OPTIONS = 8, /* IHL != 5, outer or inner */
	FP_PUNT_TOO_BIG = 9,   /* encapsulated frame exceeds the egress MTU */
	FP_PUNT_HEADROOM = 10, /* bpf_xdp_adjust_head/tail refused */
	FP_PUNT_VLAN = 11,     /* 802.1Q/802.1ad tag, outer or inner */
	FP_PUNT_NOT_IPV4 = 12, /* inner frame is ARP, IPv6, ... */
	FP_PUNT_GENEVE = 13,   /* version, OAM, protocol, options we do not take */
	FP_PUNT_MALFORMED = 14, /* lengths or outer IPv4 checksum wrong */
	FP_PUNT_CSUM = 15,     /* outer checksum needs an inner L4 sum we cannot derive */
	FP_PUNT_NO_PORT = 16,  /* tx_ports slot empty */
	FP_PUNT_PROTO = 17,    /* not TCP, UDP or ICMP echo (of this flow's type) */
	FP_PUNT_UNKNOWN_VTEP = 18, /* Geneve from a source not in xgw_vteps: software drops it */
	/* The router's input checks (include/validate.h); each names the
	 * software drop that follows. */
	FP_PUNT_IP_CSUM = 19,     /* (inner) IPv4 header checksum wrong */
	FP_PUNT_MARTIAN_SRC = 20, /* source 0/8, 127/8, 224/4, 240/4 */
	FP_PUNT_MARTIAN_DST = 21, /* destination likewise */
	FP_PUNT_OUTPORT = 22,     /* no OVN option, or not the flow's join port */
	FP_PUNT_GENEVE_CSUM = 23, /* outer UDP checksum present and wrong */
	/* IPv6 (include/fastpath6.h). The reasons above apply to IPv6 too,
	 * in its terms: ttl is the hop limit, fragment any fragment header,
	 * martian-* the IPv6 martians (datapath.martian6), too-big the
	 * flow's MaxLen (no fragmentation: software sends packet too big),
	 * not-ipv4 an inner frame that is neither IPv4 nor IPv6. */
	FP_PUNT_IP6_EXT = 24,         /* extension headers software drops: too many, too long, malformed */
	FP_PUNT_UNDERLAY6_INNER4 = 25, /* IPv4 inner over an IPv6 underlay: no flow says so */
	FP_HIT_EGRESS6 = 26,          /* FP_HIT_EGRESS for IPv6 inner packets */
	FP_HIT_INGRESS6 = 27,         /* FP_HIT_INGRESS likewise */
	FP_MISS6 = 28,                /* FP_MISS likewise */
	FP_STAT_MAX = 29,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_STAT_MAX);
	__type(key, __u32);
	__type(value, struct xgw_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_fp_stats SEC(".maps");

static __always_inline void fp_stat_inc(__u32 idx, __u64 bytes)
{
	struct xgw_counter *c = bpf_map_lookup_elem(&xgw_fp_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

#endif /* XGW_FPSTATS_H */
