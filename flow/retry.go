package flow

import (
	"fmt"
	"math"
	"time"
)

// Defaults of RetryPolicy fields left zero.
const (
	DefaultRetryInitialInterval = 1000    // milliseconds
	DefaultRetryMultiplier      = 2.0     //
	DefaultRetryMaxInterval     = 3600000 // milliseconds (one hour)
	DefaultRetryMaxSnoozes      = 10
	// MaxRetryAttempts caps RetryPolicy.MaxAttempts.
	MaxRetryAttempts = 1000
)

// RetryPolicy says how often, and how far apart, a node that fails is run
// again before its execution ends ERROR. It applies to async executions
// only: a sync run fails at once. A node's own policy (Node.Retry) replaces
// the workflow's default (Options.Retry). Intervals are milliseconds.
//
// The delay before attempt n+1 is InitialInterval × Multiplier^(n-1), capped
// by MaxInterval, then moved by up to ±Jitter of itself at random (so that
// executions failing together do not come back together).
type RetryPolicy struct {
	// MaxAttempts counts every run of the node, the first included: 1 runs
	// it once (no retry). Required, 1 to MaxRetryAttempts.
	MaxAttempts int `json:"maxAttempts"`
	// InitialInterval is the delay before the second attempt (default
	// DefaultRetryInitialInterval).
	InitialInterval int64 `json:"initialInterval,omitempty"`
	// Multiplier grows the delay after each attempt (default 2; at least 1).
	Multiplier float64 `json:"multiplier,omitempty"`
	// MaxInterval caps the delay (default one hour; at least InitialInterval).
	MaxInterval int64 `json:"maxInterval,omitempty"`
	// Jitter is the fraction of each delay by which it may move either way,
	// 0 (none, the default) to 1.
	Jitter float64 `json:"jitter,omitempty"`
	// MaxSnoozes caps how many times the node may ask to run again later
	// (nodes.Snooze) without using an attempt (default DefaultRetryMaxSnoozes).
	// A snooze past the cap counts as a failed attempt.
	MaxSnoozes int `json:"maxSnoozes,omitempty"`
}

// Validate reports what is wrong with p, naming the field.
func (p *RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1 || p.MaxAttempts > MaxRetryAttempts:
		return fmt.Errorf("maxAttempts must be 1 to %d, not %d", MaxRetryAttempts, p.MaxAttempts)
	case p.InitialInterval < 0:
		return fmt.Errorf("initialInterval cannot be negative (%d)", p.InitialInterval)
	case p.Multiplier != 0 && (p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0)):
		return fmt.Errorf("multiplier must be at least 1, not %v", p.Multiplier)
	case p.MaxInterval < 0:
		return fmt.Errorf("maxInterval cannot be negative (%d)", p.MaxInterval)
	case p.MaxInterval != 0 && p.MaxInterval < p.initial():
		return fmt.Errorf("maxInterval (%d) cannot be less than initialInterval (%d)", p.MaxInterval, p.initial())
	case p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter):
		return fmt.Errorf("jitter must be between 0 and 1, not %v", p.Jitter)
	case p.MaxSnoozes < 0:
		return fmt.Errorf("maxSnoozes cannot be negative (%d)", p.MaxSnoozes)
	}
	return nil
}

func (p *RetryPolicy) initial() int64 {
	if p.InitialInterval > 0 {
		return p.InitialInterval
	}
	return DefaultRetryInitialInterval
}

func (p *RetryPolicy) clone() *RetryPolicy {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// Snoozes returns the snooze cap, with its default applied.
func (p *RetryPolicy) Snoozes() int {
	if p == nil || p.MaxSnoozes == 0 {
		return DefaultRetryMaxSnoozes
	}
	return p.MaxSnoozes
}

// Backoff returns the delay after failed attempt n (1-based). r, in [0, 1),
// picks the jitter (0.5: none).
func (p *RetryPolicy) Backoff(n int, r float64) time.Duration {
	mult := p.Multiplier
	if mult == 0 {
		mult = DefaultRetryMultiplier
	}
	maxI := float64(p.MaxInterval)
	if maxI == 0 {
		maxI = DefaultRetryMaxInterval
	}
	d := float64(p.initial()) * math.Pow(mult, float64(max(n, 1)-1))
	if d > maxI || math.IsInf(d, 0) || math.IsNaN(d) {
		d = maxI
	}
	d += d * p.Jitter * (2*r - 1)
	return time.Duration(d * float64(time.Millisecond))
}

// Attempt is one failed run of a node, kept on its job (Job.Attempts).
type Attempt struct {
	// N numbers the attempt, from 1.
	N int `json:"attempt"`
	// Error is what the run failed with.
	Error string `json:"error"`
	// At is when it failed.
	At time.Time `json:"at"`
	// Retried marks the last attempt before Engine.Retry ran the node again:
	// the retry policy's attempts count anew after it.
	Retried bool `json:"retried,omitempty"`
}
