package nodes

import (
	"context"
	"fmt"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
)

// End is the "end" node: it ends the whole execution, even from inside a branch,
// with config.endStatus: 1 (RESOLVED, the default) or -1 (FAILED). In a sync
// workflow an end node is the intentional outcome: RESOLVED stops later
// workflows of the action and passes, FAILED rejects the action (HTTP 400).
type End struct{}

type endConfig struct {
	EndStatus *int `json:"endStatus"`
}

// Compile implements Instruction.
func (End) Compile(c *CompileContext, node *flow.Node) (any, error) {
	var cfg endConfig
	if err := DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	status := flow.JobResolved
	if cfg.EndStatus != nil {
		switch *cfg.EndStatus {
		case 1:
		case -1:
			status = flow.JobFailed
		default:
			return nil, c.Invalid(node, "config.endStatus", fmt.Sprintf("endStatus must be 1 or -1, not %d", *cfg.EndStatus), nil)
		}
	}
	return status, nil
}

// Run implements Instruction.
func (End) Run(_ context.Context, r *RunContext, _ *flow.Job) (Result, error) {
	return Ended(r.Compiled.(flow.JobStatus)), nil
}

// ResponseMessage is the "response-message" node: it renders config.message and
// adds it to the messages returned with the sync outcome of the action (with the
// success, or in the SyncError of an end node that fails). Its job result is
// the rendered text, as in the reference system ("m1", not {"message": "m1"}):
// in async runs that is where the message lands.
type ResponseMessage struct{}

type messageConfig struct {
	Message any `json:"message"`
}

// Compile implements Instruction.
func (ResponseMessage) Compile(c *CompileContext, node *flow.Node) (any, error) {
	var cfg messageConfig
	if err := DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	if _, ok := cfg.Message.(string); !ok {
		return nil, c.Invalid(node, "config.message", "message must be a string", nil)
	}
	return CompileTemplate(c, node, "config.message", cfg.Message)
}

// Run implements Instruction.
func (ResponseMessage) Run(_ context.Context, r *RunContext, _ *flow.Job) (Result, error) {
	t := r.Compiled.(*expression.Template)
	rendered, err := t.RenderChecked(r.Scope)
	if err != nil {
		return Result{}, err
	}
	msg := toText(rendered)
	r.AddMessage(Message{Message: msg})
	return Resolved(msg), nil
}

func toText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// Atomic implements Atomic.
func (End) Atomic() bool { return true }

// Atomic implements Atomic.
func (ResponseMessage) Atomic() bool { return true }
