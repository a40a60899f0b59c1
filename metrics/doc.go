// Package metrics exports a running gateway's counters to Prometheus.
//
// The Collector translates, at scrape time, the very snapshot that the
// control socket serves as GET /stats (control.Stats): no counter is kept
// twice, nothing runs per packet, and `xgw stats --json` and /metrics
// agree up to the time between the two reads. Every series is named xgw_*;
// counters end in _total, and each family has a HELP text that says what
// an operator reads from it. Where IPv4 and IPv6 are counted apart the
// series carry a family label ("ipv4", "ipv6"): sum over it for the total.
//
//	xgw_build_info{version}                              1
//	xgw_pipeline_packets_total{verdict}                  tx, drop, pass
//	xgw_pipeline_bytes_total{verdict}                    frame bytes, as transmitted for tx
//	xgw_pipeline_drops_total{reason}                     every reason, zeros included
//	xgw_pipeline_rx_packets_total{side}                  underlay, external
//	xgw_pipeline_tx_packets_total{side}
//	xgw_pipeline_forwarded_packets_total{direction,family} egress, ingress, hairpin; ipv4, ipv6
//	xgw_pipeline_forwarded_bytes_total{direction,family}   as the frames left the pipeline
//	xgw_pipeline_arp_replies_total{side}                 underlay (Geneve, join ports), external (NAT addrs)
//	xgw_nat_port_allocation_failures_total{family}       commits refused: no free port
//	xgw_conntrack_entries{family}                        live connections (exact), ipv4 and ipv6 tables
//	xgw_conntrack_zone_entries{zone}                     per zone, both families (scanned, see Options.Zones)
//	xgw_conntrack_capacity{family}
//	xgw_conntrack_created_total, _expired_total, _deleted_total {family}
//	xgw_conntrack_full_drops_total, xgw_conntrack_invalid_packets_total {family}
//	xgw_neighbor_entries, xgw_neighbor_misses_total, ..._resolutions_total,
//	xgw_neighbor_failures_total
//	xgw_engine_frames_total, xgw_engine_batches_total
//	xgw_engine_tx_frames_total{path}                     in_place, copied
//	xgw_engine_drops_total{reason}                       tx_ring_full, tx_no_frame, tx_too_big, pass_after_redirect
//	xgw_engine_errors_total
//	xgw_afxdp_rx_packets_total{interface,queue}          per AF_XDP socket
//	xgw_afxdp_tx_packets_total{interface,queue}
//	xgw_afxdp_tx_completed_total{interface,queue}
//	xgw_afxdp_wakeups_total{interface,queue,ring}        rx (fill), tx
//	xgw_afxdp_kernel_drops_total{interface,queue,reason} XDP_STATISTICS: rx_dropped,
//	                                                     rx_ring_full, fill_ring_empty,
//	                                                     rx_invalid_descs, tx_invalid_descs
//	xgw_afxdp_tx_ring_empty_total{interface,queue}
//	xgw_xdp_packets_total{interface,action}              redirect_geneve, redirect_nat,
//	xgw_xdp_bytes_total{interface,action}                redirect_arp, redirect_nd,
//	                                                     redirect_routed, pass, pass_host,
//	                                                     no_socket, malformed
//	xgw_fastpath_packets_total{direction,family}         XDP fast-path hits: egress, ingress;
//	xgw_fastpath_bytes_total{direction,family}           ipv4, ipv6 (the inner packet's)
//	xgw_fastpath_misses_total{family}
//	xgw_fastpath_punts_total{reason}
//	xgw_worker_busy_seconds_total{worker}                CPU time of the worker thread
//	xgw_worker_busy_ratio{worker}                        over the last >= 1 s between scrapes
//	xgw_config_reloads_total{result}                     applied, refused
//	xgw_config_last_reload_timestamp_seconds
//	xgw_nat_draining_addresses                           removed NAT addresses still in use
//
// Offload counters (xgw_offload_entries, xgw_offload_promotions_total,
// xgw_offload_withdrawals_total) come from a second collector,
// OffloadCollector, registered when the offload manager runs: the gateway
// collector does not need to know about it.
package metrics
