package nat

import (
	"errors"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// eimSetup is a conntrack table whose Releaser is a fresh mapping table,
// and an SNAT rule of 10.199.100.0/24 to snatIP with ports lo-hi and the
// given mapping.
func eimSetup(t *testing.T, mode Mapping, lo, hi uint16) (*conntrack.Table, *SNAT, *Mappings) {
	t.Helper()
	tab, err := conntrack.NewTable(conntrack.Config{Capacity: 1024})
	if err != nil {
		t.Fatal(err)
	}
	maps := NewMappings(0)
	tab.SetReleaser(maps)
	s := mustSNAT(t, "10.199.100.0/24", lo, hi, snatIP)
	if err := s.SetMapping(mode, maps); err != nil {
		t.Fatal(err)
	}
	return tab, s, maps
}

func host(i byte) packet.IP4 { return packet.IP4{10, 199, 100, i} }
func peer(i byte) packet.IP4 { return packet.IP4{198, 51, 100, i} }

// commitUDP commits src:5000 -> dst:53 through s and returns the match.
func commitUDP(t *testing.T, tab *conntrack.Table, s *SNAT, src, dst packet.IP4, now int64) (conntrack.Match, error) {
	t.Helper()
	return tab.Commit(tuple(src, 5000, dst, 53, packet.ProtoUDP, snatZone), nil, now, s)
}

func TestParseMapping(t *testing.T) {
	for s, want := range map[string]Mapping{
		"": MappingEndpointDependent, "endpoint-dependent": MappingEndpointDependent,
		"endpoint-independent": MappingEndpointIndependent,
	} {
		if got, err := ParseMapping(s); err != nil || got != want {
			t.Errorf("ParseMapping(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"eim", "Endpoint-Independent", "persistent"} {
		if _, err := ParseMapping(s); err == nil {
			t.Errorf("ParseMapping(%q): no error", s)
		}
	}
	s := mustSNAT(t, "10.0.0.0/8", 0, 0, snatIP)
	if err := s.SetMapping(MappingEndpointIndependent, nil); err == nil {
		t.Error("endpoint-independent without a table accepted")
	}
}

// With endpoint-independent mapping an inside endpoint leaves with one
// external port toward every destination; without it the port is chosen
// per connection. The inside port (5000) is outside the rule's range, so
// it cannot be kept and the choice is visible.
func TestEIMSamePortToEveryDestination(t *testing.T) {
	for _, mode := range []Mapping{MappingEndpointIndependent, MappingEndpointDependent} {
		t.Run(mode.String(), func(t *testing.T) {
			tab, s, maps := eimSetup(t, mode, 20000, 29999)
			differ := 0
			for h := byte(1); h <= 8; h++ {
				var ports []uint16
				for p := byte(1); p <= 3; p++ {
					m, err := commitUDP(t, tab, s, host(h), peer(p), 1)
					if err != nil {
						t.Fatalf("host %d peer %d: %v", h, p, err)
					}
					ports = append(ports, m.Reply.DstPort)
				}
				if ports[1] != ports[0] || ports[2] != ports[0] {
					differ++
				}
				if mode == MappingEndpointIndependent {
					ip, port, ok := maps.Lookup(snatZone, packet.ProtoUDP, host(h), 5000)
					if !ok || ip != snatIP || port != ports[0] {
						t.Errorf("host %d: mapping %v:%d %v, connections used %v", h, ip, port, ok, ports)
					}
				}
			}
			st := maps.Stats()
			switch mode {
			case MappingEndpointIndependent:
				if differ != 0 {
					t.Errorf("%d of 8 hosts got different ports toward different peers", differ)
				}
				if st.Live != 8 || st.Created != 8 || st.Reused != 16 {
					t.Errorf("stats %+v, want 8 live, 8 created, 16 reused", st)
				}
			default:
				// Ports are hashed per destination: with 10000 ports, 8
				// hosts all keeping one port by chance is ~1e-24.
				if differ == 0 {
					t.Error("endpoint-dependent rule kept one port per host toward every peer")
				}
				if st.Live != 0 || st.Created != 0 {
					t.Errorf("endpoint-dependent rule made mappings: %+v", st)
				}
			}
		})
	}
}

// Every mapping holds its port toward all destinations, so a range of two
// ports serves two inside endpoints; a third is refused (and counted) even
// toward a new destination, which endpoint-dependent mapping would serve.
// Endpoints that have a mapping keep using it.
func TestEIMPortExhaustion(t *testing.T) {
	tab, s, maps := eimSetup(t, MappingEndpointIndependent, 20000, 20001)
	for h := byte(1); h <= 2; h++ {
		if _, err := commitUDP(t, tab, s, host(h), peer(1), 1); err != nil {
			t.Fatalf("host %d: %v", h, err)
		}
	}
	if _, err := commitUDP(t, tab, s, host(3), peer(2), 1); !errors.Is(err, conntrack.ErrNoReply) {
		t.Fatalf("third endpoint: err %v, want ErrNoReply", err)
	}
	if s.Exhausted() != 1 {
		t.Errorf("Exhausted = %d, want 1", s.Exhausted())
	}
	for h := byte(1); h <= 2; h++ {
		m, err := commitUDP(t, tab, s, host(h), peer(9), 1)
		_, port, _ := maps.Lookup(snatZone, packet.ProtoUDP, host(h), 5000)
		if err != nil || m.Reply.DstPort != port {
			t.Errorf("host %d toward a new peer: port %d err %v, mapping %d", h, m.Reply.DstPort, err, port)
		}
	}

	// The same load with endpoint-dependent mapping: ports are reused
	// toward different destinations, so the third host gets one.
	tab2, eid, _ := eimSetup(t, MappingEndpointDependent, 20000, 20001)
	for h := byte(1); h <= 2; h++ {
		if _, err := commitUDP(t, tab2, eid, host(h), peer(1), 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := commitUDP(t, tab2, eid, host(3), peer(2), 1); err != nil {
		t.Errorf("endpoint-dependent third endpoint: %v", err)
	}
}

// A mapping lives while any of its connections does: deleting one of two
// keeps it, expiring the last frees it and its port.
func TestEIMReleasedWithLastConnection(t *testing.T) {
	tab, s, maps := eimSetup(t, MappingEndpointIndependent, 20000, 20000)
	m1, err := commitUDP(t, tab, s, host(1), peer(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := commitUDP(t, tab, s, host(1), peer(2), int64(time.Second))
	if err != nil || m2.Reply.DstPort != m1.Reply.DstPort {
		t.Fatalf("second connection: %v port %d", err, m2.Reply.DstPort)
	}
	// The only port is host 1's: host 2 is refused.
	if _, err := commitUDP(t, tab, s, host(2), peer(3), int64(time.Second)); err == nil {
		t.Fatal("host 2 got the port host 1's mapping holds")
	}
	if !tab.Delete(m1.Handle) {
		t.Fatal("Delete")
	}
	if _, _, ok := maps.Lookup(snatZone, packet.ProtoUDP, host(1), 5000); !ok {
		t.Fatal("mapping went with the first of two connections")
	}
	// The UDP first timeout is 60 s: expire the second connection.
	if n := tab.Expire(int64(2 * time.Minute)); n != 1 {
		t.Fatalf("Expire removed %d, want 1", n)
	}
	if _, _, ok := maps.Lookup(snatZone, packet.ProtoUDP, host(1), 5000); ok {
		t.Fatal("mapping outlived its last connection")
	}
	if st := maps.Stats(); st.Live != 0 || st.Released != 1 {
		t.Errorf("stats %+v, want 0 live, 1 released", st)
	}
	m3, err := commitUDP(t, tab, s, host(2), peer(3), int64(2*time.Minute))
	if err != nil || m3.Reply.DstPort != 20000 {
		t.Errorf("host 2 after release: %v port %d", err, m3.Reply.DstPort)
	}
}

// A reload builds new rule objects over the same table: live mappings stay
// in force, and endpoint-dependent rules on the same address never hand
// out a mapped port.
func TestEIMSurvivesReload(t *testing.T) {
	tab, s, maps := eimSetup(t, MappingEndpointIndependent, 20000, 29999)
	m1, err := commitUDP(t, tab, s, host(1), peer(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	reloaded := mustSNAT(t, "10.199.100.0/24", 20000, 29999, snatIP)
	if err := reloaded.SetMapping(MappingEndpointIndependent, maps); err != nil {
		t.Fatal(err)
	}
	m2, err := commitUDP(t, tab, reloaded, host(1), peer(2), 1)
	if err != nil || m2.Reply.DstPort != m1.Reply.DstPort {
		t.Errorf("after reload: port %d err %v, want %d", m2.Reply.DstPort, err, m1.Reply.DstPort)
	}

	// An endpoint-dependent rule whose inside port equals the mapped port
	// would keep it; the mapping reserves it.
	eid := mustSNAT(t, "10.199.0.0/16", 20000, 29999, snatIP)
	if err := eid.SetMapping(MappingEndpointDependent, maps); err != nil {
		t.Fatal(err)
	}
	k := tuple(packet.IP4{10, 199, 1, 1}, m1.Reply.DstPort, peer(1), 53, packet.ProtoUDP, snatZone)
	m3, err := tab.Commit(k, nil, 1, eid)
	if err != nil || m3.Reply.DstPort == m1.Reply.DstPort {
		t.Errorf("endpoint-dependent rule: port %d err %v; %d is mapped", m3.Reply.DstPort, err, m1.Reply.DstPort)
	}
	// Its release does not touch the mapping.
	if !tab.Delete(m3.Handle) {
		t.Fatal("Delete")
	}
	if st := maps.Stats(); st.Live != 1 || st.Released != 0 {
		t.Errorf("stats %+v after an unmapped connection went", st)
	}
}

// A full table does not refuse connections: they get ports of their own.
func TestEIMTableFull(t *testing.T) {
	tab, err := conntrack.NewTable(conntrack.Config{Capacity: 1024})
	if err != nil {
		t.Fatal(err)
	}
	maps := NewMappings(2)
	tab.SetReleaser(maps)
	s := mustSNAT(t, "10.199.100.0/24", 20000, 29999, snatIP)
	if err := s.SetMapping(MappingEndpointIndependent, maps); err != nil {
		t.Fatal(err)
	}
	for h := byte(1); h <= 3; h++ {
		if _, err := commitUDP(t, tab, s, host(h), peer(1), 1); err != nil {
			t.Fatalf("host %d: %v", h, err)
		}
	}
	if st := maps.Stats(); st.Live != 2 || st.Full != 1 {
		t.Errorf("stats %+v, want 2 live, 1 full", st)
	}
}

// A mapping's port taken toward one destination by someone else's
// connection: the new connection gets its own port, the mapping stays.
func TestEIMConflict(t *testing.T) {
	tab, s, maps := eimSetup(t, MappingEndpointIndependent, 20000, 29999)
	m1, err := commitUDP(t, tab, s, host(1), peer(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	p := m1.Reply.DstPort
	// A plain rule without the table (a misconfiguration) takes the port
	// toward peer 2.
	other := mustSNAT(t, "10.199.0.0/16", p, p, snatIP)
	if _, err := tab.Commit(tuple(packet.IP4{10, 199, 1, 1}, 5000, peer(2), 53, packet.ProtoUDP, snatZone), nil, 1, other); err != nil {
		t.Fatal(err)
	}
	m2, err := commitUDP(t, tab, s, host(1), peer(2), 1)
	if err != nil || m2.Reply.DstPort == p {
		t.Fatalf("conflicting connection: port %d err %v", m2.Reply.DstPort, err)
	}
	if st := maps.Stats(); st.Conflicts != 1 || st.Live != 1 {
		t.Errorf("stats %+v, want 1 conflict, 1 live", st)
	}
	if _, port, _ := maps.Lookup(snatZone, packet.ProtoUDP, host(1), 5000); port != p {
		t.Errorf("mapping moved to %d", port)
	}
}

// A connection that got a port of its own while the mapping table was full
// keeps its inside port when it can; once there is room, a later
// connection of the same endpoint may make a mapping on that very port.
// The unmapped connection's end must not release the mapping: it would
// free the port while the mapping's connection lives, and the endpoint's
// next connection would leave with another one.
func TestEIMUnmappedConnectionDoesNotRelease(t *testing.T) {
	tab, s, maps := eimSetup(t, MappingEndpointIndependent, 1024, 65535)
	maps.cap = 1
	other, err := tab.Commit(tuple(host(2), 6000, peer(9), 53, packet.ProtoUDP, snatZone), nil, 1, s)
	if err != nil {
		t.Fatal(err)
	}
	// The table is full: Y gets a port of its own, its inside port 5000.
	y, err := commitUDP(t, tab, s, host(1), peer(1), 1)
	if err != nil || y.Reply.DstPort != 5000 {
		t.Fatalf("Y: port %d err %v, want 5000 kept", y.Reply.DstPort, err)
	}
	if st := maps.Stats(); st.Full != 1 {
		t.Fatalf("stats %+v, want 1 full", st)
	}
	if !tab.Delete(other.Handle) {
		t.Fatal("Delete")
	}
	// Room again: Z makes host 1's mapping, on port 5000 as well.
	z, err := commitUDP(t, tab, s, host(1), peer(2), 1)
	if err != nil || z.Reply.DstPort != 5000 {
		t.Fatalf("Z: port %d err %v, want 5000", z.Reply.DstPort, err)
	}
	if _, port, ok := maps.Lookup(snatZone, packet.ProtoUDP, host(1), 5000); !ok || port != 5000 {
		t.Fatalf("mapping after Z: %d %v", port, ok)
	}
	if !tab.Delete(y.Handle) {
		t.Fatal("Delete")
	}
	if _, port, ok := maps.Lookup(snatZone, packet.ProtoUDP, host(1), 5000); !ok || port != 5000 {
		t.Fatalf("Y's end released Z's mapping: %d %v", port, ok)
	}
	if st := maps.Stats(); st.Live != 1 || st.Released != 1 {
		t.Errorf("stats %+v, want 1 live, 1 released (host 2's)", st)
	}
	// The mapping still reserves 5000 against other endpoints, and host 1
	// keeps it toward a new destination.
	if m, err := tab.Commit(tuple(host(3), 5000, peer(4), 53, packet.ProtoUDP, snatZone), nil, 1, s); err != nil || m.Reply.DstPort == 5000 {
		t.Errorf("host 3: port %d err %v; 5000 is host 1's", m.Reply.DstPort, err)
	}
	if m, err := commitUDP(t, tab, s, host(1), peer(4), 1); err != nil || m.Reply.DstPort != 5000 {
		t.Errorf("host 1 toward a new peer: port %d err %v, want its mapping's 5000", m.Reply.DstPort, err)
	}
	// Z still holds the mapping until it goes too (with the last one).
	if !tab.Delete(z.Handle) {
		t.Fatal("Delete")
	}
	if _, _, ok := maps.Lookup(snatZone, packet.ProtoUDP, host(1), 5000); !ok {
		t.Error("mapping went with Z while host 1's connection to peer 4 lives")
	}
}
