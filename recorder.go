package actiontrigger

import (
	"context"
	"sync"
)

// Recorder collects the AfterAction calls made with a context from
// WithRecorder, outside any execution (calls that custom nodes make from
// inside a run are not recorded). A middleware uses it to learn whether the
// handler it wraps triggered the workflows itself, so that it does not
// trigger them a second time, and to report that call's messages.
type Recorder struct {
	mu    sync.Mutex
	calls []RecordedAction
}

// RecordedAction is one AfterAction call seen by a Recorder.
type RecordedAction struct {
	Action Action
	// Result and Err are what AfterAction returned.
	Result *Result
	Err    error
}

type recorderKey struct{}

// WithRecorder returns ctx carrying a new Recorder, and the Recorder.
func WithRecorder(ctx context.Context) (context.Context, *Recorder) {
	r := &Recorder{}
	return context.WithValue(ctx, recorderKey{}, r), r
}

func (r *Recorder) add(c RecordedAction) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// Calls returns the recorded calls in the order they returned.
func (r *Recorder) Calls() []RecordedAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RecordedAction(nil), r.calls...)
}

// Triggered returns the recorded calls for one collection and action name.
func (r *Recorder) Triggered(collection, name string) []RecordedAction {
	var out []RecordedAction
	for _, c := range r.Calls() {
		if c.Action.Collection == collection && c.Action.Name == name {
			out = append(out, c)
		}
	}
	return out
}
