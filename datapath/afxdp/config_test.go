package afxdp

import "testing"

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	// 200 ms at 27 kpps is 5400 frames: the fill and RX rings must hold them.
	if c.NumFrames != 16384 || c.FrameSize != 2048 || c.Headroom != 256 || c.RxRingSize != 8192 ||
		c.FillRingSize != 8192 || c.TxRingSize != 4096 || c.CompletionRingSize != 4096 {
		t.Fatalf("defaults %+v", c)
	}
	if m, err := (Config{}).MemoryBytes(); err != nil || m != 16384*2057+8*(8192+4096)+16*(8192+4096) {
		t.Fatalf("memory of the defaults: %d, %v", m, err)
	}
	if h := c.umemHeadroom(); h != 0 {
		t.Fatalf("umem headroom %d: the kernel's 256 bytes already cover the default", h)
	}
	c = Config{Headroom: 384}
	c.setDefaults()
	if h := c.umemHeadroom(); h != 128 {
		t.Fatalf("umem headroom %d, want 128", h)
	}
	for _, bad := range []Config{{FrameSize: 3000}, {RxRingSize: 1000}, {Headroom: 32}, {Headroom: 600},
		{NumFrames: 4096, FillRingSize: 4096}, {NumFrames: 4096, TxRingSize: 4096, CompletionRingSize: 4096},
		{TxRingSize: 2048, CompletionRingSize: 1024}, {NumFrames: -1}} {
		if err := bad.setDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
