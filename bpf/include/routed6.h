/* xgw_routed6: the gateway routers' routed IPv6 prefixes (OVN's default
 * for IPv6 without NAT: static routes toward the inside that no NAT66 rule
 * covers, route.Topology.RoutedPrefixes6). External IPv6 to an address in
 * one of them belongs to the pipeline (route.Topology.InboundRouter6),
 * as IPv6 to a NAT66 address does; without this map it would be passed
 * to the kernel and replies to a routed VM would never reach xgw. */
#ifndef XGW_ROUTED6_H
#define XGW_ROUTED6_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XGW_MAX_ROUTED6 1024

/* The LPM trie's key: prefix length in bits (host order, as the kernel
 * wants it), then the address in network order, host bits zero. */
struct xgw_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XGW_MAX_ROUTED6);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xgw_lpm6_key);
	__type(value, __u32); /* reserved: 0 */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_routed6 SEC(".maps");

/* routed6 reports whether daddr (16 bytes, network order) is in one of
 * the routed prefixes. */
static __always_inline int routed6(const void *daddr)
{
	struct xgw_lpm6_key k = { .prefixlen = 128 };

	__builtin_memcpy(k.addr, daddr, 16);
	return bpf_map_lookup_elem(&xgw_routed6, &k) != NULL;
}

#endif /* XGW_ROUTED6_H */
