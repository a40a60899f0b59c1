package gateway

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

func TestParseProcAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		addr string
		port uint16
	}{
		{"0100007F:0016", "127.0.0.1", 22},
		{"00000000:00B3", "0.0.0.0", 179},
		{"00000000000000000000000000000000:1F90", "::", 8080},
		{"0000000000000000FFFF00000100007F:0050", "::ffff:127.0.0.1", 80},
	} {
		l, ok := parseProcAddr(tc.in)
		if !ok || l.Addr != netip.MustParseAddr(tc.addr) || l.Port != tc.port {
			t.Errorf("%s: %v %v, want %s:%d", tc.in, l, ok, tc.addr, tc.port)
		}
	}
	if _, ok := parseProcAddr("zz:1"); ok {
		t.Error("garbage parsed")
	}
}

// TestReadHostPortsSeesListener: a listener opened here is in what xgw
// reads, and the ephemeral range is this namespace's.
func TestReadHostPortsSeesListener(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	h, err := readHostPorts()
	if err != nil {
		t.Fatal(err)
	}
	if h.EphemeralMin == 0 || h.EphemeralMin > h.EphemeralMax {
		t.Fatalf("ephemeral range %d-%d", h.EphemeralMin, h.EphemeralMax)
	}
	want := config.Listener{Proto: packet.ProtoTCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: port}
	if !slices.Contains(h.Listeners, want) {
		t.Fatalf("listener %v not among %d read", want, len(h.Listeners))
	}
}

// TestReloadRefusesHostPortOverlap: a reload whose SNAT to the router's
// own address overlaps the host's ephemeral range or a listener is
// refused with both named, and the running configuration stays.
func TestReloadRefusesHostPortOverlap(t *testing.T) {
	f := newFixture(t)
	f.r.hostPorts = func() (config.HostPorts, error) {
		return config.HostPorts{EphemeralMin: 32768, EphemeralMax: 60999,
			Listeners: []config.Listener{{Proto: packet.ProtoTCP, Addr: netip.IPv6Unspecified(), Port: 22}}}, nil
	}
	f.write(t, oldSNAT, "external_ip: 198.51.100.1, port_range: 1-40000")
	_, err := f.r.Reload()
	if err == nil {
		t.Fatal("overlapping range accepted")
	}
	for _, want := range []string{"32768-60999", "ip_local_port_range", "tcp/22", "routers[1].nat[0].port_range"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if f.steer.addrs[netip.MustParseAddr("198.51.100.1")] {
		t.Fatal("refused address steered")
	}
	// The default range for this case passes.
	f.write(t, oldSNAT, "external_ip: 198.51.100.1")
	if _, err := f.r.Reload(); err != nil {
		t.Fatalf("default host range refused: %v", err)
	}
}
