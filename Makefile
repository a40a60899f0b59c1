# xgw — see README.md. Everything here works on a fresh machine as root.
GO       ?= go
export PATH := $(PATH):/usr/local/go/bin:$(shell $(GO) env GOPATH 2>/dev/null)/bin
BIN      := bin
FUZZTIME ?= 5s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build test unit lint fuzz bench bench-quick bench-go demo demo-ovn demo-ovn-baseline deps generate check-generate clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# deps installs what the tests and the lab need (Debian packages, bpffs).
# Idempotent: a second run installs nothing.
deps:
	./scripts/install-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

# unit runs every test, privileged ones included (they need root; CI is
# root). One package at a time: the lab, AF_XDP and XDP tests each load
# both cores, and letting them compete only measures the contention.
unit:
	$(GO) test -p 1 -count=1 -timeout 15m ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

test: deps build lint unit fuzz

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./packet/ ./geneve/ ./conntrack/ ./nat/ ./datapath/

# bench runs every system (xgw offload off/on/one-way-off, OVS AF_XDP, Linux
# nftables, the XDP redirect ceiling) on every scenario in a dual-stack lab
# (udp-oneway6 is the seed over IPv6: about 3 more minutes), the one-way
# UDP scenarios (udp-oneway, udp-oneway6, fastpath) 3 times for medians, and
# writes bench/results/<date>-<commit>.json, latest.md and latest-*.png
# (bench/README.md). Root. BENCH_FLAGS passes more xgw-bench flags.
BENCH_FLAGS ?=
bench: build
	$(BIN)/xgw-bench --repeat 3 --xgw $(BIN)/xgw --out bench/results $(BENCH_FLAGS)

# bench-quick: the seed scenario (5000 one-way UDP flows), fastpath (the
# offload issue's PASS/FAIL) and iperf3 TCP on every system, 3 s each, once;
# under 3 minutes.
bench-quick: build
	$(BIN)/xgw-bench --quick --xgw $(BIN)/xgw --out bench/results/quick $(BENCH_FLAGS)

# demo brings up the lab, runs xgw in it with real traffic, prints what
# happened and tears down (also on Ctrl-C).
demo: deps build
	$(BIN)/xgw-demo --xgw $(BIN)/xgw

# demo-ovn: a real OVN 23.03 lab (ovn-northd, NB/SB, two hypervisors with
# OVS + ovn-controller, topology by ovn-nbctl) with xgw in OVN mode as the
# gateway chassis; ping, iperf3, UDP, a floating IP and a live lr-nat-add,
# then teardown. demo-ovn-baseline: the same with a real ovn-controller as
# the gateway chassis, to compare.
demo-ovn: deps build
	$(BIN)/xgw-demo --ovn --xgw $(BIN)/xgw

demo-ovn-baseline: deps build
	$(BIN)/xgw-demo --ovn-baseline --xgw $(BIN)/xgw

generate:
	$(GO) generate ./bpf/...

# check-generate fails if the committed bpf2go output (bpf/gw_bpfel.{go,o})
# is stale; needs clang.
check-generate:
	XGW_REQUIRE_CLANG=1 $(GO) test -count=1 -run TestGeneratedUpToDate ./bpf

clean:
	rm -rf $(BIN)
