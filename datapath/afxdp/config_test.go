package afxdp

import "testing"

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.NumFrames != 4096 || c.FrameSize != 2048 || c.Headroom != 256 || c.RxRingSize != 2048 {
		t.Fatalf("defaults %+v", c)
	}
	if h := c.umemHeadroom(); h != 0 {
		t.Fatalf("umem headroom %d: the kernel's 256 bytes already cover the default", h)
	}
	c = Config{Headroom: 384}
	c.setDefaults()
	if h := c.umemHeadroom(); h != 128 {
		t.Fatalf("umem headroom %d, want 128", h)
	}
	for _, bad := range []Config{{FrameSize: 3000}, {RxRingSize: 1000}, {Headroom: 32}, {Headroom: 600}} {
		if err := bad.setDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
