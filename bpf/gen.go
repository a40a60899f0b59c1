// Package bpf holds the gateway's XDP program and its Go bindings.
package bpf

// Regenerate with `go generate ./bpf` (needs clang); the output is committed
// so that `go build` does not. TestGeneratedUpToDate checks it is not stale.

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -I/usr/include/x86_64-linux-gnu" -target bpfel -type xgw_counter -type xgw_params -type fp_key -type fp_action -type fp_key6 -type fp_action6 -type xgw_params6 -type xgw_lpm6_key gw xdp_gw.c
