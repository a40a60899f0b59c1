package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
)

// OperatorPinPath is where iproute2 pins the by-name maps of an object it
// loads (`ip link set dev IF xdp object gw_bpfel.o section xdp`): its
// globals directory, <bpffs>/xdp/globals (a link to tc/globals). Set
// TC_BPF_MNT to use another bpffs mount or directory.
const OperatorPinPath = "/sys/fs/bpf/xdp/globals"

// XSKSlots is how many interfaces can share one xgw_xsks map: the two
// program instances an operator loads (underlay, external) share every
// pinned map, so a socket's key is slot*MaxQueues + queue. xgw's own
// loads use slot 0 of a map per interface.
const XSKSlots = 2

// Open opens, instead of loading, the maps of an xdp_gw that an operator
// loaded with its maps pinned by name in dir (OperatorPinPath for
// iproute2). The result has no programs (Program is nil): the operator's
// stay attached and are never detached by xgw. Fill xgw_config with
// SetParams, then use it as a loaded Objects (NAT addresses,
// RegisterXSKSlot, FastPath, Stats). Maps of another layout (another
// build) are refused; the flows map may have any size.
func Open(dir string) (_ *Objects, err error) {
	spec, err := loadGw()
	if err != nil {
		return nil, fmt.Errorf("bpf: load spec: %w", err)
	}
	o := &Objects{pinPath: dir}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	for _, name := range mapNames(spec) {
		path := filepath.Join(dir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if err != nil {
			return nil, fmt.Errorf("bpf: open pinned map %s (is xdp_gw loaded with its maps pinned there? see bpf/README.md): %w", path, err)
		}
		ms := spec.Maps[name].Copy()
		if name == gwMapXgwFlows || name == gwMapXgwFlows6 {
			ms.MaxEntries = m.MaxEntries() // the operator's choice
		}
		if err := ms.Compatible(m); err != nil {
			m.Close()
			return nil, fmt.Errorf("bpf: pinned map %s is not this build's %s: %w", path, name, err)
		}
		*o.mapField(name) = m
	}
	if err := o.FastPath().syncUsed(); err != nil {
		return nil, err
	}
	return o, nil
}

// mapNames are the object's maps, without the per-program .rodata.
func mapNames(spec *ebpf.CollectionSpec) []string {
	var names []string
	for name := range spec.Maps {
		if !strings.HasPrefix(name, ".") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func (o *Objects) mapField(name string) **ebpf.Map {
	m := &o.objs.gwMaps
	switch name {
	case gwMapXgwConfig:
		return &m.XgwConfig
	case gwMapXgwFlows:
		return &m.XgwFlows
	case gwMapXgwFlowsUsed:
		return &m.XgwFlowsUsed
	case gwMapXgwFpStats:
		return &m.XgwFpStats
	case gwMapXgwNatAddrs:
		return &m.XgwNatAddrs
	case gwMapXgwHostPorts:
		return &m.XgwHostPorts
	case gwMapXgwStats:
		return &m.XgwStats
	case gwMapXgwTxPorts:
		return &m.XgwTxPorts
	case gwMapXgwVteps:
		return &m.XgwVteps
	case gwMapXgwVtepsGen:
		return &m.XgwVtepsGen
	case gwMapXgwXsks:
		return &m.XgwXsks
	case gwMapXgwFlows6:
		return &m.XgwFlows6
	case gwMapXgwFlows6Used:
		return &m.XgwFlows6Used
	case gwMapXgwVteps6:
		return &m.XgwVteps6
	case gwMapXgwNatAddrs6:
		return &m.XgwNatAddrs6
	case gwMapXgwConfig6:
		return &m.XgwConfig6
	case gwMapXgwRouted6:
		return &m.XgwRouted6
	}
	panic("bpf: unknown map " + name) // a new map in xdp_gw.c needs a case
}

// Params are xgw_config: the steering parameters that xgw's loader bakes
// in as constants, for a program an operator loaded.
type Params struct {
	VTEP netip.Addr // our underlay IPv4; invalid: no Geneve steering
	// VTEP6 is our underlay IPv6 (xgw_config6); invalid: no Geneve over
	// IPv6 steering.
	VTEP6      netip.Addr
	GenevePort uint16 // 0 means 6081
	// ExternalIfindex, when the external side is its own interface, is
	// that interface: frames arriving there use socket slot 1. 0 when one
	// interface carries both sides.
	ExternalIfindex int
}

// SetParams writes xgw_config. The program reads it per packet, so a
// change applies at once.
func (o *Objects) SetParams(p Params) error {
	var v gwXgwParams
	if p.VTEP.IsValid() {
		if !p.VTEP.Is4() {
			return fmt.Errorf("bpf: VTEP %s is not IPv4", p.VTEP)
		}
		a := p.VTEP.As4()
		v.VtepIp = binary.NativeEndian.Uint32(a[:]) // network order in memory
	}
	port := p.GenevePort
	if port == 0 {
		port = DefaultGenevePort
	}
	v.GenevePort = binary.NativeEndian.Uint16([]byte{byte(port >> 8), byte(port)})
	v.ExtIfindex = uint32(p.ExternalIfindex)
	if err := o.objs.XgwConfig.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("bpf: write xgw_config: %w", err)
	}
	var v6 gwXgwParams6
	if p.VTEP6.IsValid() {
		if !p.VTEP6.Is6() || p.VTEP6.Is4In6() {
			return fmt.Errorf("bpf: VTEP6 %s is not IPv6", p.VTEP6)
		}
		v6.VtepIp6 = p.VTEP6.As16()
	}
	if err := o.objs.XgwConfig6.Put(uint32(0), &v6); err != nil {
		return fmt.Errorf("bpf: write xgw_config6: %w", err)
	}
	return nil
}

// RegisterXSKSlot is RegisterXSK for an interface's slot of a shared
// xgw_xsks (Open): 0 for the underlay (or the only interface), 1 for a
// separate external interface, as Params.ExternalIfindex says.
func (o *Objects) RegisterXSKSlot(slot, queue, fd int) error {
	if slot < 0 || slot >= XSKSlots {
		return fmt.Errorf("bpf: register xsk: slot %d out of range [0,%d)", slot, XSKSlots)
	}
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: register xsk: queue %d out of range [0,%d)", queue, MaxQueues)
	}
	if err := o.objs.XgwXsks.Put(uint32(slot*MaxQueues+queue), uint32(fd)); err != nil {
		return fmt.Errorf("bpf: register xsk fd %d at slot %d queue %d: %w", fd, slot, queue, err)
	}
	return nil
}

// ErrNotOurProgram: the program does not use these maps.
var ErrNotOurProgram = errors.New("bpf: the attached XDP program is not an xdp_gw using these pinned maps")

// CheckProgram verifies that program id is an xdp_gw over o's maps, e.g.
// the one an operator attached to an interface xgw is about to serve.
func (o *Objects) CheckProgram(id ebpf.ProgramID) error {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return fmt.Errorf("bpf: open program %d: %w", id, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return fmt.Errorf("bpf: program %d info: %w", id, err)
	}
	mi, err := o.objs.XgwXsks.Info()
	if err != nil {
		return fmt.Errorf("bpf: xgw_xsks info: %w", err)
	}
	want, _ := mi.ID()
	ids, _ := info.MapIDs()
	if info.Name != gwProgXdpGw || !slices.Contains(ids, want) {
		return fmt.Errorf("%w (program %d is %q, maps %v; xgw_xsks is %d)", ErrNotOurProgram, id, info.Name, ids, want)
	}
	return nil
}

// NATAddrs lists the steered NAT addresses, IPv4 (xgw_nat_addrs) then
// IPv6 (xgw_nat_addrs6), e.g. to drop those a previous xgw left in an
// operator's pinned maps.
func (o *Objects) NATAddrs() ([]netip.Addr, error) {
	var addrs []netip.Addr
	var k [4]byte
	var v uint32
	it := o.objs.XgwNatAddrs.Iterate()
	for it.Next(&k, &v) {
		addrs = append(addrs, netip.AddrFrom4(k))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: list NAT addresses: %w", err)
	}
	var k6 [16]byte
	it = o.objs.XgwNatAddrs6.Iterate()
	for it.Next(&k6, &v) {
		addrs = append(addrs, netip.AddrFrom16(k6))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: list IPv6 NAT addresses: %w", err)
	}
	return addrs, nil
}
