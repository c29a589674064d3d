package testkit

import (
	"sync"
	"time"
)

// DefaultStart is where a kit's clock starts unless StartAt says otherwise:
// a fixed instant, so that timestamps and timers are the same on every run.
var DefaultStart = time.Date(2026, time.January, 1, 9, 0, 0, 0, time.UTC)

// Clock is a fake clock. The kit binds the engine's Config.Now to it, so
// every timestamp, lease, retry backoff and timeout the engine computes reads
// it; it only moves when told to. It is safe for concurrent use.
//
// Moving the clock fires nothing by itself: Kit.Advance and
// Kit.AdvanceToNextTimer move it and then run what became due.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d (backwards when d is negative) and returns
// the new reading.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t, forwards or backwards. Timers that already fired
// stay fired.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
