package conntrack

import (
	"fmt"
	"unsafe"

	"github.com/xgw-dev/xgw/packet"
)

// Tuple is the key of one direction of an IPv4 connection inside a zone.
// It is a fixed-size, pointer-free, comparable value (16 bytes) so that it
// can be hashed and stored without allocation. For ICMP echo, SrcPort and
// DstPort both hold the echo identifier.
type Tuple struct {
	Src, Dst         packet.IP4
	SrcPort, DstPort uint16
	Proto            uint8
	_                uint8
	Zone             uint16
}

// Tuple6 is Tuple for IPv6 (40 bytes). Its last 8 bytes (ports, protocol,
// zone) are laid out exactly as Tuple's, so that the table's code that
// reads them is one for both families. For ICMPv6 echo, SrcPort and
// DstPort both hold the echo identifier.
type Tuple6 struct {
	Src, Dst         packet.IP6
	SrcPort, DstPort uint16
	Proto            uint8
	_                uint8
	Zone             uint16
}

// Reverse returns the tuple of the opposite direction, same zone.
func (t Tuple) Reverse() Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto, Zone: t.Zone}
}

// Reverse returns the tuple of the opposite direction, same zone.
func (t Tuple6) Reverse() Tuple6 {
	return Tuple6{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto, Zone: t.Zone}
}

func (t Tuple) String() string {
	return fmt.Sprintf("zone=%d proto=%d %s:%d->%s:%d", t.Zone, t.Proto, t.Src, t.SrcPort, t.Dst, t.DstPort)
}

func (t Tuple6) String() string {
	return fmt.Sprintf("zone=%d proto=%d [%s]:%d->[%s]:%d", t.Zone, t.Proto, t.Src, t.SrcPort, t.Dst, t.DstPort)
}

// tupleKey is what a table is generic over: one tuple type per address
// family. Each is its own struct type, so the compiler stencils a table
// of its own for each (GC shape stenciling keys on the underlying type),
// and the family tests below (is4) are constants in each copy: the IPv4
// table compiles to the same code as before IPv6 existed.
type tupleKey interface {
	comparable
	Tuple | Tuple6
}

// is4 reports whether T is the IPv4 tuple; a constant in each stenciled copy.
func is4[T tupleKey]() bool {
	var z T
	return unsafe.Sizeof(z) == unsafe.Sizeof(Tuple{})
}

// as4 and as6 view a tuple of type T as its family's struct; call each
// only where is4 says it is that family.
func as4[T tupleKey](k *T) *Tuple  { return (*Tuple)(unsafe.Pointer(k)) }
func as6[T tupleKey](k *T) *Tuple6 { return (*Tuple6)(unsafe.Pointer(k)) }

// tail is the shared last 8 bytes of Tuple and Tuple6 (tuple_test.go
// checks the offsets).
type tail struct {
	SrcPort, DstPort uint16
	Proto            uint8
	_                uint8
	Zone             uint16
}

// tailOf returns k's ports, protocol and zone.
func tailOf[T tupleKey](k *T) *tail {
	return (*tail)(unsafe.Add(unsafe.Pointer(k), unsafe.Sizeof(*k)-unsafe.Sizeof(tail{})))
}

// reverseOf is Reverse for either family.
func reverseOf[T tupleKey](k *T) T {
	var r T
	if is4[T]() {
		*as4(&r) = as4(k).Reverse()
	} else {
		*as6(&r) = as6(k).Reverse()
	}
	return r
}

// natState4 derives the NAT ct_state bits as OVS reports them: the reply
// tuple differs from the reversed orig tuple on the source side (SNAT: the
// reply is addressed elsewhere) or on the destination side (DNAT).
func natState4(o, r *Tuple) uint8 {
	var s State
	if r.Dst != o.Src || r.DstPort != o.SrcPort {
		s |= SrcNAT
	}
	if r.Src != o.Dst || r.SrcPort != o.DstPort {
		s |= DstNAT
	}
	return uint8(s)
}

// natState6 is natState4 for IPv6 tuples.
func natState6(o, r *Tuple6) uint8 {
	var s State
	if r.Dst != o.Src || r.DstPort != o.SrcPort {
		s |= SrcNAT
	}
	if r.Src != o.Dst || r.SrcPort != o.DstPort {
		s |= DstNAT
	}
	return uint8(s)
}

// addrs returns k's source and destination addresses (4 or 16 bytes each).
func addrs[T tupleKey](k *T) (src, dst []byte) {
	if is4[T]() {
		t := as4(k)
		return t.Src[:], t.Dst[:]
	}
	t := as6(k)
	return t.Src[:], t.Dst[:]
}
