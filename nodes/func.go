package nodes

import (
	"context"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Validator is implemented by the config type of a Func node that checks more
// than its JSON shape. Validate runs when the workflow is saved; its error
// refuses the save, naming the node.
type Validator interface {
	Validate() error
}

// Func is a node type written as one function over a typed config: the short
// path for a node that computes or calls something and reports the result.
// C is the config struct: the node's "config" decodes into it when the
// workflow is saved (unknown fields are refused, and C's Validate runs when it
// implements Validator), and each run receives the decoded value.
//
//	type tagConfig struct{ Tag string `json:"tag"` }
//	reg.MustRegister("tag", &nodes.Func[tagConfig]{
//		Do: func(ctx context.Context, r *nodes.FuncRun[tagConfig]) (nodes.Result, error) {
//			return nodes.Resolved(r.Config.Tag + ":" + r.Data().String("title")), nil
//		},
//	})
//
// A Func node runs outside the store's transaction unless InTx is set (it is
// then Atomic): set it only for a function that does no slow work.
type Func[C any] struct {
	// Do runs the node. Required.
	Do func(ctx context.Context, r *FuncRun[C]) (Result, error)
	// InTx declares that Run only computes and makes quick writes through
	// Records, so the engine may run it inside the run's unit of work (the
	// node is Atomic).
	InTx bool
}

// FuncRun is what a Func node's function receives: the run context and the
// node's decoded config.
type FuncRun[C any] struct {
	*RunContext
	Config C
}

type funcCompiled[C any] struct{ cfg C }

// Compile implements Instruction: it decodes and validates the config.
func (f *Func[C]) Compile(c *CompileContext, node *flow.Node) (any, error) {
	var cfg C
	if node.Config != nil {
		if err := DecodeConfig(c, node, &cfg); err != nil {
			return nil, err
		}
	}
	if v, ok := any(&cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, c.Invalid(node, "config", err.Error(), err)
		}
	} else if v, ok := any(cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, c.Invalid(node, "config", err.Error(), err)
		}
	}
	if f.Do == nil {
		return nil, c.Invalid(node, "type", "the node type's Func has no Do function", nil)
	}
	return &funcCompiled[C]{cfg: cfg}, nil
}

// Run implements Instruction.
func (f *Func[C]) Run(ctx context.Context, r *RunContext, _ *flow.Job) (Result, error) {
	fc, _ := r.Compiled.(*funcCompiled[C])
	var cfg C
	if fc != nil {
		cfg = fc.cfg
	}
	return f.Do(ctx, &FuncRun[C]{RunContext: r, Config: cfg})
}

// Atomic implements the Atomic interface: it reports InTx.
func (f *Func[C]) Atomic() bool { return f.InTx }

// Data returns the event's record, $context.data (nil when the event has
// none).
func (r *RunContext) Data() Fields {
	ctx, _ := r.Scope["$context"].(map[string]any)
	d, _ := ctx["data"].(map[string]any)
	return Fields(d)
}

// User returns the acting user's fields, $context.user.
func (r *RunContext) User() Fields {
	ctx, _ := r.Scope["$context"].(map[string]any)
	u, _ := ctx["user"].(map[string]any)
	return Fields(u)
}

// JobResult returns the result of the job the node nodeKey saved in this
// execution ($jobsMapByNodeKey.<nodeKey>), and whether there is one.
func (r *RunContext) JobResult(nodeKey string) (any, bool) {
	m, _ := r.Scope["$jobsMapByNodeKey"].(map[string]any)
	v, ok := m[nodeKey]
	return v, ok
}

// Fields is a record read by a node: typed getters instead of map digging.
type Fields map[string]any

// Get returns the value of a field or dotted path ("category.title"), and
// whether it is there.
func (f Fields) Get(path string) (any, bool) {
	var cur any = map[string]any(f)
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[path[start:i]]; !ok {
			return nil, false
		}
		start = i + 1
	}
	return cur, true
}

// String returns a string field ("" when absent or not a string).
func (f Fields) String(path string) string {
	v, _ := f.Get(path)
	s, _ := v.(string)
	return s
}

// Int returns an integer field (integral numbers of any Go type, and
// json.Number), and whether it is one.
func (f Fields) Int(path string) (int64, bool) {
	v, _ := f.Get(path)
	return flow.IntValue(v)
}

// Float returns a numeric field as a float64, and whether it is a number.
func (f Fields) Float(path string) (float64, bool) {
	v, _ := f.Get(path)
	return flow.FloatValue(v)
}

// Record returns a nested record (an appended to-one association), or nil.
func (f Fields) Record(path string) Fields {
	v, _ := f.Get(path)
	m, _ := v.(map[string]any)
	return Fields(m)
}
