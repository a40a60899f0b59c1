package ipfrag

// counters are the table's, under its lock.
type counters struct {
	known, held, released, completed, expired uint64
	overlap, tooMany, tooSmall, noMemory      uint64
	failed, timeout, malformed                uint64
	heldDropped                               uint64 // held fragments dropped (timeout, failed, poisoned)
}

// Stats counts what the table did with fragments. The drops of fragments
// as they arrive (Overlap, TooMany, TooSmall, NoMemory, Malformed,
// Failed) are the pipeline's too, by reason; Timeout and the Failed
// fragments that were held are drops only this table sees.
type Stats struct {
	// Known counts later fragments translated at once; Held those held
	// for their first fragment; Released the held ones sent on after it.
	Known, Held, Released uint64
	// Completed counts datagrams whose every byte was forwarded;
	// Expired those that timed out incomplete.
	Completed, Expired uint64
	// Drops by reason.
	Overlap   uint64 // overlapped a fragment seen (or a poisoned datagram)
	TooMany   uint64 // past MaxFragments for one datagram
	TooSmall  uint64 // a non-last fragment under MinSize
	NoMemory  uint64 // no datagram slot or no hold slot free
	Failed    uint64 // the datagram's first fragment was dropped
	Timeout   uint64 // held until the datagram timed out
	Malformed uint64 // empty, past 65535, or past the datagram's end
	// Datagrams in progress and fragments held now.
	Datagrams, HeldNow uint64
}

func (t *Table) count(r Result) {
	t.mu.Lock()
	switch r {
	case Malformed:
		t.st.malformed++
	case TooSmall:
		t.st.tooSmall++
	}
	t.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &t.st
	return Stats{
		Known: c.known, Held: c.held, Released: c.released,
		Completed: c.completed, Expired: c.expired,
		Overlap: c.overlap, TooMany: c.tooMany, TooSmall: c.tooSmall,
		NoMemory: c.noMemory, Failed: c.failed, Timeout: c.timeout, Malformed: c.malformed,
		Datagrams: uint64(t.live), HeldNow: uint64(len(t.slots) - len(t.free)),
	}
}

// Events lists the counters by stable name (metric labels, stats keys);
// the gauges Datagrams and HeldNow are not among them.
func (s Stats) Events() []Event {
	return []Event{
		{"known", s.Known}, {"held", s.Held}, {"released", s.Released},
		{"completed", s.Completed}, {"expired", s.Expired},
		{"drop-overlap", s.Overlap}, {"drop-too-many", s.TooMany},
		{"drop-too-small", s.TooSmall}, {"drop-no-memory", s.NoMemory},
		{"drop-first-dropped", s.Failed}, {"drop-timeout", s.Timeout},
		{"drop-malformed", s.Malformed},
	}
}

// Event is one named counter of Stats.
type Event struct {
	Name  string
	Value uint64
}
