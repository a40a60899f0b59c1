// Package flow is the vocabulary shared by the software pipeline, its flow
// cache and every offload backend: what identifies one direction of a
// connection as it arrives at the gateway (Key), what the gateway does to
// every packet of it (Action), how an action is read off what the
// pipeline did to a packet (Derive) and how software applies one (Apply).
//
// The pipeline (datapath) produces actions, the flow cache stores them,
// the offload manager (offload) installs them in fast paths such as the
// XDP program (bpf), which applies them in C, checked byte for byte
// against Apply by bpf's tests. None of those packages import each other
// for these types: they all import flow. IPv6 packets have the same
// vocabulary in types of their own (Key6, Action6, KeyOf6, Derive6,
// Apply6), so that IPv4 keys and actions keep their size.
package flow
