/* The known-chassis check of the fast path's egress direction (xgw_vteps,
 * include/flow.h) without a hash lookup per packet: a flow remembers the
 * outer source of its last hit from a known chassis, stamped with
 * xgw_vteps_gen (fp_action.vtep_cache). Go bumps the generation after it
 * removes a source, so a stamp older than a removal no longer counts and
 * the next hit looks the source up again. Only what the cache proves is
 * skipped: the answer is always "outer_src is in xgw_vteps now, or was
 * when no removal had happened since". */
#ifndef XGW_VTEPCACHE_H
#define XGW_VTEPCACHE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "flow.h"

/* vtep_known tells whether outer_src is in xgw_vteps. */
static __always_inline int vtep_known(__be32 outer_src)
{
	return bpf_map_lookup_elem(&xgw_vteps, &outer_src) != NULL;
}

/* vtep_known_cached is vtep_known for a hit of flow a, through and into
 * a's cache. The generation is read before the lookup: a removal that
 * the lookup did not see bumps it after, so the stamp is then stale. A
 * flow that also encapsulates (underlay to underlay) keeps its template
 * where the cache would be, and looks the source up every time. */
static __always_inline int vtep_known_cached(struct fp_action *a, __be32 outer_src)
{
	__u32 zero = 0, *genp;
	__u64 want;

	if (a->flags & FP_F_ENCAP)
		return vtep_known(outer_src);
	genp = bpf_map_lookup_elem(&xgw_vteps_gen, &zero); /* inlined: an array */
	if (!genp)
		return vtep_known(outer_src);
	want = (__u64)*(volatile __u32 *)genp << 32 | (__u32)outer_src;
	/* 0.0.0.0 is never a VTEP (SetVTEPs skips it) and 0 is what Go
	 * installs: never a hit for it. */
	if (outer_src && *(volatile __u64 *)&a->vtep_cache == want)
		return 1;
	if (!vtep_known(outer_src))
		return 0;
	*(volatile __u64 *)&a->vtep_cache = want;
	return 1;
}

#endif /* XGW_VTEPCACHE_H */
