package actiontrigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/actiontrigger/actiontrigger/flow"
)

// EnsureWorkflow makes wf the current version of its key, the way a host
// that declares its workflows in code wants at every start: a new key is
// saved; an unchanged one is left as it is (no new version); a changed one
// updates its current version, or, when that version has run and is frozen,
// gets a revision with wf's definition that becomes current (enabled as wf
// says). It returns the current version. wf.Key is required; wf.ID is
// ignored.
func (e *Engine) EnsureWorkflow(ctx context.Context, wf flow.Workflow) (*flow.Workflow, error) {
	if wf.Key == "" {
		return nil, &flow.ValidationError{Field: "key", Message: "EnsureWorkflow needs the workflow's key"}
	}
	wf.ID = ""
	cur, err := e.Workflow(ctx, wf.Key)
	if errors.Is(err, flow.ErrNotFound) {
		return e.SaveWorkflow(ctx, wf)
	}
	if err != nil {
		return nil, err
	}
	if sameDefinition(cur, &wf) {
		return cur, nil
	}
	wf.ID = cur.ID
	saved, err := e.SaveWorkflow(ctx, wf)
	if !errors.Is(err, flow.ErrFrozen) {
		return saved, err
	}
	rev, err := e.Revise(ctx, wf.Key)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: ensure workflow %q: %w", wf.Key, err)
	}
	wf.ID = rev.ID
	if saved, err = e.SaveWorkflow(ctx, wf); err != nil {
		return nil, err
	}
	if err := e.EnableVersion(ctx, saved.ID); err != nil {
		return nil, err
	}
	if !wf.Enabled {
		if err := e.Disable(ctx, wf.Key); err != nil {
			return nil, err
		}
	}
	return e.WorkflowVersion(ctx, saved.ID)
}

// sameDefinition reports whether two versions define the same workflow:
// title, description, type, sync, enabled, config, nodes and options, compared
// as JSON (so 1 and 1.0 are equal).
func sameDefinition(a, b *flow.Workflow) bool {
	pick := func(w *flow.Workflow) any {
		typ := w.Type
		if typ == "" {
			typ = flow.TriggerType
		}
		title := w.Title
		if title == "" {
			title = w.Key
		}
		raw, _ := json.Marshal(struct {
			Title       string             `json:"title"`
			Description string             `json:"description"`
			Type        string             `json:"type"`
			Sync        bool               `json:"sync"`
			Enabled     bool               `json:"enabled"`
			Config      flow.TriggerConfig `json:"config"`
			Nodes       []flow.Node        `json:"nodes"`
			Options     flow.Options       `json:"options"`
		}{title, w.Description, typ, w.Sync, w.Enabled, w.Config, w.Nodes, w.Options})
		var v any
		_ = json.Unmarshal(raw, &v)
		return v
	}
	return reflect.DeepEqual(pick(a), pick(b))
}
