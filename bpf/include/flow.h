/* The offload maps: xgw_flows (what to do with each established flow), xgw_tx_ports
 * (where to send it), xgw_vteps (who may send us Geneve). Layouts are mirrored in Go through bpf2go (gwFpKey,
 * gwFpAction); change both together and keep fields explicitly padded. */
#ifndef XGW_FLOW_H
#define XGW_FLOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* datapath.PortID */
#define XGW_PORT_UNDERLAY 0
#define XGW_PORT_EXTERNAL 1
#define XGW_MAX_PORTS 4

/* 32k connections in both directions. A miss costs more in a larger
 * map (more buckets, colder lines): offload.flows sizes it from the
 * expected number of offloaded connections. */
#define XGW_FLOWS_DEFAULT 65536

/* geneve.EncapLen: outer Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8 + OVN
 * option 8. The template in fp_action is that many bytes of header. */
#define XGW_ENCAP_LEN 58
#define XGW_ENCAP_IP_OFF 14
#define XGW_ENCAP_UDP_OFF 34
/* IPv4 total length and UDP length of the outer headers alone. */
#define XGW_ENCAP_IP_LEN 44
#define XGW_ENCAP_UDP_LEN 24

/* fp_action.flags */
#define FP_F_DECAP 0x01      /* strip outer Ethernet/IPv4/UDP/Geneve */
#define FP_F_ENCAP 0x02      /* prepend the outer template */
#define FP_F_NAT 0x04        /* addresses or ports change */
#define FP_F_OUTER_CSUM 0x08 /* compute the outer UDP checksum */
#define FP_F_OUTPORT 0x10    /* the Geneve option's outport must be fp_action.outport */

/* fp_key is datapath.FlowKey: a flow as it arrives, before any rewrite.
 * Addresses and ports in network order, vni in host order; vni and
 * inner_dst are zero for in_port external. No implicit padding. */
struct fp_key {
	__be32 src;
	__be32 dst;
	__be16 sport; /* ICMP echo: the id, in both ports */
	__be16 dport;
	__u32 vni;
	__u8 inner_dst[6];
	__u8 in_port; /* XGW_PORT_* */
	__u8 proto;
};

/* fp_action is datapath.FlowAction plus per-flow counters. Counters come
 * first and are updated with plain adds, not atomics: RSS keeps a flow's
 * direction on one CPU, so there is one writer and the locked add (20-40
 * ns a hit) buys nothing; were a direction to hit on two CPUs at once, an
 * increment could be lost, never more. One lookup gives action and
 * counters (a PERCPU_HASH would need a second lookup per packet). */
struct fp_action {
	__u64 packets;
	__u64 bytes;     /* IPv4 total length of the (inner) packet, as conntrack counts */
	/* CLOCK_MONOTONIC of the last hit at tick resolution
	 * (bpf_ktime_get_coarse_ns: cheaper than ktime_get_ns in VMs, and
	 * conntrack timeouts are seconds). */
	__u64 last_seen;

	__u8 flags;     /* FP_F_* */
	__u8 ttl_dec;   /* router hops; TTL <= ttl_dec punts */
	__u8 out_port;  /* tx_ports slot */
	__u8 icmp_type; /* ICMP flows: the only echo type this direction carries */
	__be32 nat_src; /* after NAT (== key when not NATed) */
	__be32 nat_dst;
	__be16 nat_sport; /* ICMP echo: the id */
	__be16 nat_dport;
	__u8 eth_dst[6]; /* the (inner) frame's L2 after routing */
	__u8 eth_src[6];
	/* Precomputed one's-complement sums of ~old + new (packet.Delta):
	 * IPv4 header (addresses, TTL); L4 (pseudo-header addresses + ports,
	 * or the ICMP echo id). */
	__u32 ip_delta;
	__u32 l4_delta;
	/* Encap: the folded sum of the outer IPv4 header with total length
	 * and checksum zero; and of the outer pseudo-header (lengths zero),
	 * UDP header (length and checksum zero), Geneve header + option and
	 * the rewritten inner Ethernet header. Per packet only the lengths,
	 * the inner IPv4 header and the inner L4 sum are added. */
	__u32 outer_ip_sum;
	__u32 outer_udp_sum;
	/* FP_F_OUTPORT: the OVN option's outport (host order) every Geneve
	 * packet of this flow carries: the gateway router's join port key. */
	__u16 outport;
	/* The largest (inner) IPv4 packet the egress link takes by xgw's
	 * configured MTU (0: only the kernel's, which bpf_check_mtu applies
	 * to encapsulated frames); a longer one punts (FP_PUNT_TOO_BIG) and
	 * software answers fragmentation needed. */
	__u16 max_len;
	union {
		/* Encap: geneve.Encap's output for an empty inner frame, with
		 * both lengths and both checksums zero; 58 bytes used, the rest
		 * zero. */
		__u8 outer[64];
		/* Decap flows without encap (whose template is unused): the
		 * outer source of a hit that the fast path found in xgw_vteps
		 * (low 32 bits, network order) and xgw_vteps_gen as read before
		 * that lookup (high 32 bits), one word so that a reader on
		 * another CPU never pairs one hit's source with another's
		 * generation. A hit from the same source while the generation
		 * holds needs no lookup in xgw_vteps (include/vtepcache.h).
		 * Written by the program only; Go installs 0 (nothing cached).
		 * Sharing the template's place keeps the value's size, so a map
		 * pinned by an earlier build is still loaded. */
		__u64 vtep_cache;
	};
};

/* xgw_flows: every offloaded direction of every established connection. The
 * size is set at load (Options.FlowCapacity). Written only from Go, so no
 * preallocation: memory follows the number of flows installed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XGW_FLOWS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fp_key);
	__type(value, struct fp_action);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_flows SEC(".maps");

/* xgw_flows_used: 0 when xgw_flows is known to be empty, so that the
 * fast path skips the lookup (a hash of a 2-line key and a probe of a
 * cold bucket, 50-400 ns) on every packet while nothing is offloaded.
 * Kept by Go (FastPath): set before any install, cleared after a removal
 * that left the map empty. Entries written around Go are not seen. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_flows_used SEC(".maps");

/* xgw_tx_ports: datapath.PortID -> egress ifindex (0: none), for
 * bpf_redirect. Not a DEVMAP: the kernel adds BPF_F_RDONLY_PROG to those,
 * and libbpf before 1.2 (iproute2, bpftool on Debian 12) then refuses to
 * reuse the pin for a second interface ("parameter mismatch"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XGW_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_tx_ports SEC(".maps");

/* xgw_vteps: the outer IPv4 sources (network order) that may tunnel to
 * us: the known chassis' VTEPs, as the software pipeline's check
 * (datapath drop geneve-unknown-source). Geneve from any other source is
 * never forwarded by the fast path: it punts (FP_PUNT_UNKNOWN_VTEP) to the
 * AF_XDP socket, where software drops and counts it. Empty means no
 * Geneve is fast-forwarded at all (fail closed), which is what an
 * operator's fresh load has until xgw fills it. The value is reserved for
 * flags and currently unused. Written only from Go (FastPath.SetVTEPs). */
#define XGW_MAX_VTEPS 4096

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XGW_MAX_VTEPS);
	__type(key, __be32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_vteps SEC(".maps");

/* xgw_vteps_gen: bumped by Go (FastPath.SetVTEPs) after every removal
 * from xgw_vteps, so that the sources flows cached before it
 * (fp_action.vtep) are looked up again. A writer of xgw_vteps other than
 * SetVTEPs must bump it after a removal too. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xgw_vteps_gen SEC(".maps");

#endif /* XGW_FLOW_H */
