package afxdp_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/datapath/afxdp"
)

// TestHotPathAllocs drives Receive/Transmit/Alloc/Release/Poll on live
// sockets under traffic and requires zero allocations per round.
func TestHotPathAllocs(t *testing.T) {
	r := newRig(t, false)
	var conn *net.UDPConn
	r.do(r.a, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addrA.AsSlice()})
		return err
	})
	defer conn.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b := make([]byte, 200)
		dst := &net.UDPAddr{IP: addrB.AsSlice(), Port: 9}
		for seq := uint64(0); !stop.Load(); seq++ {
			b = b[:minPayload+64]
			fillPayload(b, seq)
			conn.WriteToUDP(b, dst)
			if seq%64 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	rx := make([]afxdp.Frame, 64)
	spare := make([]afxdp.Frame, 8)
	src, dst := r.mac(r.b, "vb"), r.mac(r.a, "va")
	var moved int
	round := func() {
		for _, p := range r.in {
			n, err := p.Receive(rx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range rx[:n] {
				f := &rx[i]
				reflectUDP(p.Buf(f)[f.Off:f.Off+f.Len], src, dst)
			}
			k, err := p.Transmit(rx[:n])
			if err != nil {
				t.Fatal(err)
			}
			p.Release(rx[k:n])
			p.Release(spare[:p.Alloc(spare)])
			moved += n
			p.Poll(0)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if a := testing.AllocsPerRun(5000, round); a != 0 {
		t.Errorf("hot path allocates %.2f per round, want 0", a)
	}
	if moved == 0 {
		t.Fatal("no frames moved during the measurement: the test measured nothing")
	}
	t.Logf("moved %d frames with 0 allocs", moved)
}
