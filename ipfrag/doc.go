// Package ipfrag lets the gateway translate IPv4 and IPv6 fragments of
// NATed UDP and ICMP / ICMPv6 echo (RFC 4787 REQ-14) without reassembling
// them. One table serves both families: an IPv6 datagram's key carries
// its 16-byte addresses and 32-bit identification (Key.V6), and its
// fragment offsets count from after the fragment header (RFC 8200 §4.5).
//
// Every fragment is translated by the connection of its datagram's first
// fragment, the only one that carries the L4 header: the first fragment
// takes the whole pipeline (conntrack, NAT with the L4 checksum delta,
// routing, encap) and the table remembers its ports under the datagram's
// key (arrival port, VNI and inner MAC, source, destination, protocol, IP
// ID). Later fragments take the same pipeline with those ports filled in;
// NAT then rewrites only their IP header (the UDP or ICMP checksum lives
// in the first fragment, whose delta already covers the change). A later
// fragment that arrives before its first is copied into a bounded pool
// and held until the first arrives (then it is released, translated) or
// its datagram times out (then it is dropped and counted).
//
// Why not reassemble, as OVS's kernel datapath and Linux's nf_defrag do:
// xgw's frames are fixed-size AF_XDP chunks (2 KB by default) and the
// pipeline is run to completion, one frame in and one frame out. A
// reassembled 4000-byte datagram fits in no chunk and would have to be
// fragmented again on output, after encapsulation, for an MTU the
// gateway does not choose. OVS's userspace ipf reassembles only so that
// conntrack can look at a whole datagram, then forwards the original
// fragments with the translation copied onto them; translating each
// fragment by its first fragment's connection is the same output without
// the copy, and keeps the sender's fragment sizes. ICMP errors about a
// fragment quote the first fragment's headers either way.
//
// What is bounded, as in OVS's lib/ipf.c: datagrams in progress
// (Config.MaxDatagrams, set associative, a full set refuses a new
// datagram), fragments per datagram (MaxFragments), fragments held
// (MaxHeld, fixed-size slots), the smallest non-last fragment (MinSize,
// OVS's lower bound 400), and time (Timeout, OVS's 15 s). Overlap rules:
// an exact duplicate of a fragment already seen is dropped; a fragment
// that partly overlaps one already seen is dropped and poisons its
// datagram (later fragments are dropped too, held ones freed), as Linux
// has done since the FragmentSmack fixes (RFC 1858, RFC 5722 for IPv6).
// Every drop is counted by reason (Stats).
//
// The table is shared by the workers (fragments of one datagram may reach
// different RX queues) behind one mutex: only fragments take it.
package ipfrag
