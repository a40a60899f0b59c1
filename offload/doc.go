// Package offload is xgw's offload manager: it decides which connections
// leave software for an offload backend, installs and withdraws their
// entries, and feeds the backends' counters back into conntrack.
//
// The design is act_ct's (a connection is offloaded once conntrack says it
// is established, and the fast path punts what conntrack must see), with
// the one thing OVS could not do in the seed report: one-way UDP is
// promoted by an explicit policy instead of staying +trk+new in software
// forever.
//
// # Life of a connection
//
//  1. The pipeline reports a connection it forwarded (flow.Sink)
//     until the manager sets flow.MarkOffloadSeen on both of its zone
//     entries. Candidates only copies into a bounded queue; a full queue
//     drops (counted) and the pipeline, seeing no mark, reports the
//     connection again with its next packet.
//  2. The manager goroutine drains the queue, dedupes by conntrack handles,
//     marks the connection seen and keeps it in a pending set, evaluated on
//     a schedule (EvalInterval, backing off to SyncInterval), so the cost
//     is O(pending due), never O(conntrack table).
//  3. Policy (policy.go): TCP once ESTABLISHED in both zones; UDP once
//     answered; one-way UDP after UDPOnewayPackets packets, or after
//     UDPOnewayAfter if still sending; ICMP echo once answered.
//  4. Promotion plans both directions (Planner, the pipeline's own stages)
//     and installs them in batches, every reverse entry before any forward
//     entry, so a reply can never miss the fast path once the forward
//     direction is in it. A flow goes to the first backend that takes both
//     directions; if none does and one of them was full, the flow stays in
//     software (counted) and is retried with backoff.
//  5. Every SyncInterval each offloaded flow's counters are read from the
//     backend that holds it, their deltas credited to both zone entries
//     with ct.Touch (so active offloaded connections never expire and idle
//     ones do), and flows whose
//     connection expired or left ESTABLISHED (FIN/RST are punted to
//     software) are withdrawn. Withdraw gives the pipeline a non-blocking
//     way to ask for an immediate teardown.
//
// # Backends
//
// A Backend is where offloaded flows live. It owns its entries, their
// counters, its clock (Backend.Now, the scale of Counters.LastSeen) and its
// capacity (a full backend wraps ErrFull). The manager takes a list:
//
//   - bpf.Backend, the XDP fast path over pinned maps, is the one xgw runs;
//   - a tc-flower backend (hardware offload on a NIC) would be one new
//     package implementing Backend from flow.Action, listed before or after
//     bpf.Backend by the gateway: nothing here changes;
//   - an empty list keeps every connection in software, as Enabled false.
//
// Install order is the list order, flow by flow; there is no rebalancing:
// a flow stays where it was installed until it is withdrawn.
//
// All manager state is guarded by one mutex, taken by the manager
// goroutine and by the control-plane calls (Reset, Adopt, DumpFlows); the
// packet path only ever touches the queues' own small locks.
package offload
