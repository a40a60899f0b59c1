package bpf

import (
	"time"

	"golang.org/x/sys/unix"
)

// Ktime returns the current bpf_ktime_get_ns (CLOCK_MONOTONIC, ns).
func Ktime() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("bpf: CLOCK_MONOTONIC: " + err.Error()) // cannot fail on Linux
	}
	return uint64(ts.Nano())
}

// KtimeToTime converts a bpf_ktime_get_ns (or _coarse_ns, the same clock
// at tick resolution) value to wall-clock time using
// the current offset between CLOCK_REALTIME and CLOCK_MONOTONIC (so a
// wall-clock step since the hit shifts the result with it, as conntrack's
// wall-clock expiry would). 0, the "never" of a flow's last_seen, gives the
// zero time.
func KtimeToTime(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, KtimeToUnixNano(ns))
}

// KtimeToUnixNano is KtimeToTime in the wall-clock nanoseconds that
// conntrack and the pipeline's clock use.
func KtimeToUnixNano(ns uint64) int64 {
	return ktimeOffset() + int64(ns)
}

// ktimeOffset is CLOCK_REALTIME - CLOCK_MONOTONIC now, in ns: what
// KtimeToUnixNano adds to a ktime.
func ktimeOffset() int64 {
	now := time.Now().UnixNano()
	return now - int64(Ktime())
}

// ktimeToTimeAt is KtimeToTime with an offset the caller read once.
func ktimeToTimeAt(ns uint64, off int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, off+int64(ns))
}
