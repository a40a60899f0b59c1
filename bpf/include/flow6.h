/* The IPv6 offload maps and layouts: xgw_flows6 (IPv6 inner flows, over
 * either underlay family), xgw_vteps6 (IPv6 chassis), xgw_nat_addrs6 and
 * xgw_config6. Apart from the IPv4 ones (flow.h) so that IPv4 keys and
 * values, and the pins of maps an earlier build made, keep their size.
 * Mirrored in Go through bpf2go (gwFpKey6, gwFpAction6). */
#ifndef XGW_FLOW6_H
#define XGW_FLOW6_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "flow.h"

/* geneve.EncapLen6: outer Ethernet 14 + IPv6 40 + UDP 8 + Geneve 8 + OVN
 * option 8. */
#define XGW_ENCAP6_LEN 78
#define XGW_ENCAP6_IP_OFF 14
#define XGW_ENCAP6_UDP_OFF 54

/* fp_action6.flags: FP_F_* of flow.h, and */
#define FP_F_UNDERLAY6 0x20 /* encap over IPv6: the template is Encap6's */

/* fp_key6 is flow.Key6. Addresses and ports in network order, vni in
 * host order. No implicit padding. */
struct fp_key6 {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport; /* ICMPv6 echo: the id, in both ports */
	__be16 dport;
	__u32 vni;
	__u8 inner_dst[6];
	__u8 in_port; /* XGW_PORT_* */
	__u8 proto;
};

/* fp_action6 is flow.Action6 plus per-flow counters, as fp_action. */
struct fp_action6 {
	__u64 packets;
	__u64 bytes; /* IPv6 packet lengths (40 + payload length) */
	__u64 last_seen;

	__u8 flags;     /* FP_F_* */
	__u8 hop_dec;   /* router hops; hop limit <= hop_dec punts */
	__u8 out_port;  /* tx_ports slot */
	__u8 icmp_type; /* ICMPv6 flows: the only echo type (128/129) */
	__be16 nat_sport;
	__be16 nat_dport;
	__u8 nat_src[16];
	__u8 nat_dst[16];
	__u8 eth_dst[6];
	__u8 eth_src[6];
	/* The L4 checksum delta of NAT66: pseudo-header addresses and ports
	 * (or the echo id), packet.Delta. IPv6 has no header checksum. */
	__u32 l4_delta;
	/* Encap: as in fp_action. outer_ip_sum only over an IPv4 underlay;
	 * outer_udp_sum is the folded sum of the pseudo-header (lengths
	 * zero), the template's UDP (length, checksum zero), Geneve and
	 * option, and the rewritten inner Ethernet header. */
	__u32 outer_ip_sum;
	__u32 outer_udp_sum;
	__u16 outport; /* FP_F_OUTPORT */
	/* The largest (inner) IPv6 packet, fixed header included, the egress
	 * link takes (0: no limit but the kernel's); a longer one punts
	 * (FP_PUNT_TOO_BIG): software answers packet too big. */
	__u16 max_len;
	/* Encap with FP_F_OUTER_CSUM: the folded sum of nat_src and nat_dst
	 * (host-order words), the inner pseudo-header's constant part. */
	__u32 addr_sum;
	/* Encap: geneve.Encap's (58 bytes) or Encap6's (78, FP_F_UNDERLAY6)
	 * output for an empty inner frame, lengths and checksums zero. */
	__u8 outer[80];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XGW_FLOWS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fp_key6);
	__type(value, struct fp_action6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_flows6 SEC(".maps");

/* xgw_flows6_used: xgw_flows_used for xgw_flows6. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_flows6_used SEC(".maps");

/* xgw_vteps6: xgw_vteps for chassis with an IPv6 encap address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XGW_MAX_VTEPS);
	__type(key, __u8[16]);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_vteps6 SEC(".maps");

/* xgw_nat_addrs6: our external IPv6 NAT addresses; value XGW_NAT_*. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u8[16]);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_nat_addrs6 SEC(".maps");

/* xgw_config6: the IPv6 VTEP for an object an operator loaded, as
 * xgw_config (all zero: no IPv6 Geneve steering). */
struct xgw_params6 {
	__u8 vtep_ip6[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xgw_params6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_config6 SEC(".maps");

#endif /* XGW_FLOW6_H */
