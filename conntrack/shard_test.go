package conntrack

import (
	"testing"
	"unsafe"
)

// Shards are whole cache lines, so that two never share one.
func TestShardIsWholeCacheLines(t *testing.T) {
	if n := unsafe.Sizeof(shard{}); n%64 != 0 {
		t.Fatalf("shard is %d bytes, not a multiple of 64: adjust shardPad", n)
	}
	if off := unsafe.Offsetof(shard{}.full); off >= 64 {
		t.Fatalf("the hot fields end at %d, past the first cache line", off)
	}
}
