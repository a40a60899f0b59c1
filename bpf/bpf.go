package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// DefaultGenevePort is the IANA Geneve port.
const DefaultGenevePort = 6081

// MaxQueues is the size of the XSKMAP: the highest RX queue index + 1 that
// can have a socket.
const MaxQueues = 64

// Options are fixed at load time (read-only globals and map sizes).
type Options struct {
	GenevePort uint16     // UDP destination port of Geneve; 0 means 6081
	VTEP       netip.Addr // our underlay IPv4 address; invalid disables Geneve steering
	// VTEP6 is our underlay IPv6 address; invalid disables the steering
	// of Geneve over IPv6.
	VTEP6 netip.Addr

	// FlowCapacity is the size of the fast path's flows map; 0 means
	// DefaultFlowCapacity, or the size of the map pinned under PinPath if
	// there is one. A pinned map of another size than a non-zero
	// FlowCapacity is not reused: Load fails (ErrMapIncompatible) rather
	// than drop offloaded flows.
	FlowCapacity int
	// PinPath, if set, is a bpffs directory (xgw uses /sys/fs/bpf/xgw)
	// where the fast-path maps (flows, tx_ports, fp_stats, vteps) are pinned by
	// name; a Load that finds them there reuses them, entries, counters
	// and all. See README.md for the restart sequence.
	PinPath string
	// Share, if set, makes this copy use Share's fast-path maps instead
	// of its own, so one FastPath serves every interface's xdp_gw. The
	// steering maps (xsks_map, nat_addrs, stats) stay per copy.
	Share *Objects

	// skipChecks turns router input checks of include/validate.h off
	// (FP_CHECK_* bits), for tests that show a check is what catches a
	// frame and for benchmarks that price each check. Always 0 in xgw.
	skipChecks uint32
}

// Objects are the loaded programs and maps.
type Objects struct {
	objs    gwObjects
	pinPath string
}

// fastPathMaps are the maps that Options.Share and Options.PinPath share.
// xgw_vteps is one: it gates the fast path, and a program left running
// on a pinned link must keep the chassis set it was forwarding with;
// xgw_vteps_gen goes with it (the flows' cached checks depend on it).
var fastPathMaps = []string{gwMapXgwFlows, gwMapXgwFlowsUsed, gwMapXgwTxPorts, gwMapXgwFpStats, gwMapXgwVteps, gwMapXgwVtepsGen,
	gwMapXgwFlows6, gwMapXgwFlows6Used, gwMapXgwVteps6}

// Load loads xdp_gw and xdp_pass with opts baked in.
func Load(opts Options) (*Objects, error) {
	spec, err := loadGw()
	if err != nil {
		return nil, fmt.Errorf("bpf: load spec: %w", err)
	}
	port := opts.GenevePort
	if port == 0 {
		port = DefaultGenevePort
	}
	var vtep [4]byte
	if opts.VTEP.IsValid() {
		if !opts.VTEP.Is4() {
			return nil, fmt.Errorf("bpf: VTEP %s is not IPv4", opts.VTEP)
		}
		vtep = opts.VTEP.As4()
	}
	var vtep6 [16]byte
	if opts.VTEP6.IsValid() {
		if !opts.VTEP6.Is6() || opts.VTEP6.Is4In6() {
			return nil, fmt.Errorf("bpf: VTEP6 %s is not IPv6", opts.VTEP6)
		}
		vtep6 = opts.VTEP6.As16()
	}
	if err := spec.Variables[gwVarVtepIp6].Set(vtep6); err != nil {
		return nil, fmt.Errorf("bpf: set vtep_ip6: %w", err)
	}
	// Both globals are kept in network order: store them as raw bytes.
	if err := spec.Variables["geneve_port"].Set([2]byte{byte(port >> 8), byte(port)}); err != nil {
		return nil, fmt.Errorf("bpf: set geneve_port: %w", err)
	}
	if err := spec.Variables["vtep_ip"].Set(vtep); err != nil {
		return nil, fmt.Errorf("bpf: set vtep_ip: %w", err)
	}
	// The object file is built for operators' loaders (README.md): the
	// constants above instead of xgw_config, and nothing pinned by name
	// unless asked below.
	if err := spec.Variables[gwVarConfigInMap].Set(uint8(0)); err != nil {
		return nil, fmt.Errorf("bpf: set config_in_map: %w", err)
	}
	if err := spec.Variables[gwVarFpSkipChecks].Set(opts.skipChecks); err != nil {
		return nil, fmt.Errorf("bpf: set fp_skip_checks: %w", err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	flowCap := opts.FlowCapacity
	if flowCap == 0 {
		flowCap = DefaultFlowCapacity
		// A map pinned by an earlier run (of an older default, 262144)
		// keeps its size rather than fail the load.
		if opts.PinPath != "" && opts.Share == nil {
			if m, err := ebpf.LoadPinnedMap(filepath.Join(opts.PinPath, gwMapXgwFlows), nil); err == nil {
				flowCap = int(m.MaxEntries())
				m.Close()
			}
		}
	}
	if flowCap < 0 {
		return nil, fmt.Errorf("bpf: FlowCapacity %d is negative", flowCap)
	}
	spec.Maps[gwMapXgwFlows].MaxEntries = uint32(flowCap)
	spec.Maps[gwMapXgwFlows6].MaxEntries = uint32(flowCap)
	o := &Objects{pinPath: opts.PinPath}
	var copts ebpf.CollectionOptions
	switch {
	case opts.Share != nil:
		o.pinPath = opts.Share.pinPath
		copts.MapReplacements = map[string]*ebpf.Map{
			gwMapXgwFlows:      opts.Share.objs.XgwFlows,
			gwMapXgwFlowsUsed:  opts.Share.objs.XgwFlowsUsed,
			gwMapXgwTxPorts:    opts.Share.objs.XgwTxPorts,
			gwMapXgwFpStats:    opts.Share.objs.XgwFpStats,
			gwMapXgwVteps:      opts.Share.objs.XgwVteps,
			gwMapXgwVtepsGen:   opts.Share.objs.XgwVtepsGen,
			gwMapXgwFlows6:     opts.Share.objs.XgwFlows6,
			gwMapXgwFlows6Used: opts.Share.objs.XgwFlows6Used,
			gwMapXgwVteps6:     opts.Share.objs.XgwVteps6,
		}
	case opts.PinPath != "":
		if err := os.MkdirAll(opts.PinPath, 0o700); err != nil {
			return nil, fmt.Errorf("bpf: pin path: %w", err)
		}
		if err := migratePins(opts.PinPath, spec); err != nil {
			return nil, err
		}
		for _, name := range fastPathMaps {
			spec.Maps[name].Pinning = ebpf.PinByName
		}
		copts.Maps.PinPath = opts.PinPath
	}
	if err := spec.LoadAndAssign(&o.objs, &copts); err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("bpf: load xdp_gw: pinned maps in %s differ from this build (size or layout); "+
				"remove them to start with an empty fast path: %w", opts.PinPath, err)
		}
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("bpf: load xdp_gw: %+v", verr)
		}
		return nil, fmt.Errorf("bpf: load xdp_gw: %w", err)
	}
	if err := o.FastPath().syncUsed(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// Close releases programs and maps (attached links keep the program alive).
func (o *Objects) Close() error {
	return o.objs.Close()
}

// Program is xdp_gw, for BPF_PROG_RUN and custom attachment.
func (o *Objects) Program() *ebpf.Program { return o.objs.XdpGw }

// PassProgram is xdp_pass.
func (o *Objects) PassProgram() *ebpf.Program { return o.objs.XdpPass }

// Mode is the XDP attach mode.
type Mode int

const (
	ModeAuto    Mode = iota // let the kernel choose (native where the driver has it)
	ModeNative              // driver mode; fails if the driver lacks XDP
	ModeGeneric             // skb mode; slow, for drivers without XDP
)

func (m Mode) flags() link.XDPAttachFlags {
	switch m {
	case ModeNative:
		return link.XDPDriverMode
	case ModeGeneric:
		return link.XDPGenericMode
	}
	return 0
}

// Attach attaches xdp_gw to ifindex (in the caller's network namespace).
// Close the link to detach.
func (o *Objects) Attach(ifindex int, mode Mode) (link.Link, error) {
	return attach(o.objs.XdpGw, "xdp_gw", ifindex, mode)
}

// AttachPass attaches xdp_pass, e.g. to the peer of a veth that receives
// redirected or AF_XDP-transmitted frames.
func (o *Objects) AttachPass(ifindex int, mode Mode) (link.Link, error) {
	return attach(o.objs.XdpPass, "xdp_pass", ifindex, mode)
}

func attach(p *ebpf.Program, name string, ifindex int, mode Mode) (link.Link, error) {
	l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ifindex, Flags: mode.flags()})
	if err != nil {
		return nil, fmt.Errorf("bpf: attach %s to ifindex %d: %w", name, ifindex, err)
	}
	return l, nil
}

// NATFlags qualify a NAT address in xgw_nat_addrs (XGW_NAT_* in
// include/maps.h).
type NATFlags uint32

// NATHost marks a NAT address that is also the host's (a router's external
// port IP that a rule SNATs to): ARP requests for it stay with the kernel,
// which answers them, and of its IPv4 only what can be a reply to xgw's
// SNAT (by the range SetHostPorts gives) is steered; the rest passes to
// the kernel (include/hostaddr.h).
const NATHost NATFlags = 1

// AddNATAddr steers all IPv4 traffic to addr, and ARP requests for it, into
// the AF_XDP sockets (SetNATAddr with no flags).
func (o *Objects) AddNATAddr(addr netip.Addr) error { return o.SetNATAddr(addr, 0) }

// SetNATAddr steers addr with flags, adding it or replacing its flags.
// An IPv6 address goes to xgw_nat_addrs6: IPv6 to it is steered, and
// neighbour solicitations for it, unless NATHost (then the kernel has all
// of it: no port split for IPv6 yet).
func (o *Objects) SetNATAddr(addr netip.Addr, flags NATFlags) error {
	var err error
	switch {
	case addr.Is4():
		err = o.objs.XgwNatAddrs.Put(addr.As4(), uint32(flags))
	case addr.Is6() && !addr.Is4In6():
		err = o.objs.XgwNatAddrs6.Put(addr.As16(), uint32(flags))
	default:
		return fmt.Errorf("bpf: NAT address %s is neither IPv4 nor IPv6", addr)
	}
	if err != nil {
		return fmt.Errorf("bpf: add NAT address %s: %w", addr, err)
	}
	return nil
}

// RemoveNATAddr stops steering addr, and forgets its host port range;
// removing an absent address is not an error.
func (o *Objects) RemoveNATAddr(addr netip.Addr) error {
	if addr.Is6() && !addr.Is4In6() {
		if err := o.objs.XgwNatAddrs6.Delete(addr.As16()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("bpf: remove NAT address %s: %w", addr, err)
		}
		return nil
	}
	if !addr.Is4() {
		return fmt.Errorf("bpf: NAT address %s is not IPv4", addr)
	}
	if err := o.objs.XgwNatAddrs.Delete(addr.As4()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: remove NAT address %s: %w", addr, err)
	}
	return o.RemoveHostPorts(addr)
}

// hostPortRange is struct xgw_port_range (include/hostaddr.h).
type hostPortRange struct {
	Min, Max uint16
}

// SetHostPorts sets the SNAT port range of addr, a NAT address steered
// with NATHost: TCP/UDP to a port in [lo, hi], echo replies with an id in
// it and ICMP errors quoting such a packet go to xgw, the rest of addr's
// traffic to the kernel. Without a range nothing of addr is steered.
func (o *Objects) SetHostPorts(addr netip.Addr, lo, hi uint16) error {
	if !addr.Is4() {
		return fmt.Errorf("bpf: host NAT address %s is not IPv4", addr)
	}
	if lo == 0 || lo > hi {
		return fmt.Errorf("bpf: host NAT address %s: port range %d-%d", addr, lo, hi)
	}
	if err := o.objs.XgwHostPorts.Put(addr.As4(), hostPortRange{Min: lo, Max: hi}); err != nil {
		return fmt.Errorf("bpf: set the port range of host NAT address %s: %w", addr, err)
	}
	return nil
}

// RemoveHostPorts forgets addr's port range: none of its traffic is
// steered by port any more. Removing an absent range is not an error.
func (o *Objects) RemoveHostPorts(addr netip.Addr) error {
	if !addr.Is4() {
		return fmt.Errorf("bpf: host NAT address %s is not IPv4", addr)
	}
	if err := o.objs.XgwHostPorts.Delete(addr.As4()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: remove the port range of host NAT address %s: %w", addr, err)
	}
	return nil
}

// RegisterXSK makes the AF_XDP socket fd receive what xdp_gw steers on queue.
// The socket must already be bound to that interface and queue.
func (o *Objects) RegisterXSK(queue, fd int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: register xsk: queue %d out of range [0,%d)", queue, MaxQueues)
	}
	if err := o.objs.XgwXsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("bpf: register xsk fd %d at queue %d: %w", fd, queue, err)
	}
	return nil
}

// UnregisterXSK removes the socket of queue; its traffic falls back to XDP_PASS.
func (o *Objects) UnregisterXSK(queue int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: unregister xsk: queue %d out of range [0,%d)", queue, MaxQueues)
	}
	if err := o.objs.XgwXsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: unregister xsk at queue %d: %w", queue, err)
	}
	return nil
}
