#!/usr/bin/env bash
# install-deps.sh: install what xgw's tests and lab need, idempotently.
#
#   - Debian packages: openvswitch-switch ovn-central ovn-host iperf3 ethtool tcpdump nftables conntrack
#     iproute2 procps iputils-ping curl (skipped when installed; `apt-get update` runs once,
#     only when a missing package has no install candidate);
#   - bpffs mounted at /sys/fs/bpf.
#
# The host's own Open vSwitch and OVN services are never started: the lab runs private
# OVS instances inside network namespaces (bench/lab). A policy-rc.d keeps
# the package's postinst from starting it, and if it runs anyway (started by
# the postinst or init), the global daemons are stopped again.
#
# Run as root. Safe to run any number of times.
set -euo pipefail

PACKAGES=(openvswitch-switch ovn-central ovn-host iperf3 ethtool tcpdump nftables iproute2 procps iputils-ping conntrack curl)

log() { echo "install-deps: $*"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root" >&2
	exit 1
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done

global_ovs_running() {
	local f
	for f in /var/run/openvswitch/ovsdb-server.pid /var/run/openvswitch/ovs-vswitchd.pid; do
		[ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
	done
	return 1
}

ovs_was_running=no
global_ovs_running && ovs_was_running=yes

if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	# apt-get update once, only if some missing package has no candidate
	# (fresh machine, empty or stale lists).
	need_update=no
	for p in "${missing[@]}"; do
		cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
		if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
			need_update=yes
			break
		fi
	done
	if [ "$need_update" = yes ]; then
		log "apt-get update"
		apt-get update -q
	fi

	# Keep maintainer scripts from starting services (exit 101 = "action
	# forbidden"), unless the machine already has its own policy.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	log "installing ${missing[*]}"
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		# Lists present but stale (versions gone from the mirror): refresh
		# and try once more.
		log "install failed: apt-get update and retry"
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
else
	log "packages already installed: ${PACKAGES[*]}"
fi

# Never leave the host's global OVS running if we (or the postinst) started
# it. Only the default rundir's daemons are touched; lab instances use their
# own OVS_RUNDIR and are never stopped here.
if [ "$ovs_was_running" = no ] && global_ovs_running; then
	log "stopping the host's global Open vSwitch (the lab runs its own)"
	if [ -d /run/systemd/system ]; then
		systemctl stop openvswitch-switch ovs-vswitchd ovsdb-server 2>/dev/null || true
		systemctl disable openvswitch-switch 2>/dev/null || true
	fi
	if global_ovs_running; then
		env -u OVS_RUNDIR -u OVS_DBDIR -u OVS_LOGDIR \
			/usr/share/openvswitch/scripts/ovs-ctl stop || true
	fi
fi

# Same for OVN: the OVN lab runs northd, its databases and ovn-controller in
# namespaces with their own rundirs; the host's global ones must not run.
global_ovn_pids() {
	local f
	for f in /var/run/ovn/ovn-northd.pid /var/run/ovn/ovnnb_db.pid /var/run/ovn/ovnsb_db.pid /var/run/ovn/ovn-controller.pid; do
		[ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
	done
	return 0
}
pids=$(global_ovn_pids)
if [ -n "$pids" ]; then
	log "stopping the host's global OVN daemons (the lab runs its own)"
	if [ -d /run/systemd/system ]; then
		systemctl stop ovn-central ovn-host ovn-controller ovn-northd 2>/dev/null || true
		systemctl disable ovn-central ovn-host 2>/dev/null || true
	fi
	pids=$(global_ovn_pids)
	[ -n "$pids" ] && kill $pids 2>/dev/null || true
fi

# bpffs for pinned maps.
if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
	mkdir -p /sys/fs/bpf
	mount -t bpf bpf /sys/fs/bpf
	log "mounted bpffs at /sys/fs/bpf"
fi

log "ok"
