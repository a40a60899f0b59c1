/* Maps shared between the XDP program and Go (package bpf). Names are part
 * of the Go API through bpf2go: rename with care. */
#ifndef XGW_MAPS_H
#define XGW_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XGW_MAX_QUEUES 64
#define XGW_MAX_NAT_ADDRS 1024

/* xsks_map: one AF_XDP socket per RX queue, keyed by rx_queue_index. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XGW_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* nat_addrs: our external SNAT/DNAT addresses (network order); the value
 * is reserved for flags and currently unused. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XGW_MAX_NAT_ADDRS);
	__type(key, __u32);
	__type(value, __u32);
} nat_addrs SEC(".maps");

#endif /* XGW_MAPS_H */
