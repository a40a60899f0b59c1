/* Maps shared between the XDP program and Go (package bpf). Names are part
 * of the Go API through bpf2go and of the pin layout operators see: rename
 * with care. Every map is pinned by name (LIBBPF_PIN_BY_NAME) when an
 * operator loads the object with ip link or bpftool, so that xgw can find
 * them (adopt mode); xgw's own loader overrides that (package bpf). The
 * xgw_ prefix keeps them apart from other objects' maps in the shared
 * iproute2 globals directory. */
#ifndef XGW_MAPS_H
#define XGW_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XGW_MAX_QUEUES 64
#define XGW_MAX_NAT_ADDRS 1024
/* Interfaces that can share one xgw_xsks: two program instances loaded by
 * an operator share every by-name map, so the socket key carries the
 * interface (slot * XGW_MAX_QUEUES + queue). */
#define XGW_XSK_SLOTS 2

/* XGW_NAT_HOST: the NAT address is also the host's (a router's external
 * port IP that a rule SNATs to): the kernel answers ARP for it, so ARP
 * for it is not steered. IPv4 to it is, as to any NAT address. */
#define XGW_NAT_HOST 1

/* xgw_xsks: one AF_XDP socket per (slot, RX queue). xgw's own loads give
 * each interface its own map and use slot 0. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XGW_MAX_QUEUES * XGW_XSK_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_xsks SEC(".maps");

/* xgw_nat_addrs: our external SNAT/DNAT addresses (network order); the
 * value holds XGW_NAT_* flags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XGW_MAX_NAT_ADDRS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_nat_addrs SEC(".maps");

/* xgw_config: what xgw's loader bakes into constants, for an object an
 * operator loaded (ip link cannot set .rodata). xgw fills it in adopt
 * mode; read only when the constant config_in_map is set. */
struct xgw_params {
	__be32 vtep_ip;     /* 0: no Geneve steering */
	__be16 geneve_port; /* 0: 6081 */
	__u16 pad;
	/* Frames arriving on this ifindex use socket slot 1; 0 when one
	 * interface carries both sides (everything in slot 0). */
	__u32 ext_ifindex;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xgw_params);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_config SEC(".maps");

#endif /* XGW_MAPS_H */
