// Package offload is xgw's offload manager: it decides which connections
// the XDP fast path forwards, installs and withdraws their map entries, and
// feeds the fast path's counters back into conntrack.
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
//     direction is in it. A full map keeps the flow in software (counted)
//     and retries with backoff.
//  5. Every SyncInterval the fast path's counters are read, their deltas
//     credited to both zone entries with ct.Touch (so active offloaded
//     connections never expire and idle ones do), and flows whose
//     connection expired or left ESTABLISHED (FIN/RST are punted to
//     software) are withdrawn. Withdraw gives the pipeline a non-blocking
//     way to ask for an immediate teardown.
//
// All manager state is guarded by one mutex, taken by the manager
// goroutine and by the control-plane calls (Reset, Adopt, DumpFlows); the
// packet path only ever touches the queues' own small locks.
package offload
