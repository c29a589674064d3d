package nodes

import (
	"context"
	"fmt"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
)

// Branch indexes of a condition node.
const (
	BranchOnFalse = 0
	BranchOnTrue  = 1
)

// Condition is the "condition" node. Config:
//
//	engine         "basic" (default: calculation groups) or "expr" (expr-lang)
//	calculation    basic engine: {"group": {"type": "and"|"or", "calculations": [...]}}
//	               or a leaf {"calculator": "equal", "operands": [a, b]}
//	expression     expr engine: e.g. "$context.data.amount > 500"
//	rejectOnFalse  true: a false result fails the execution
//
// A true result runs branch 1, false runs branch 0; with no matching branch the
// flow continues after the node.
type Condition struct{}

type conditionConfig struct {
	Engine        string `json:"engine"`
	Calculation   any    `json:"calculation"`
	Expression    string `json:"expression"`
	RejectOnFalse bool   `json:"rejectOnFalse"`
}

type compiledCondition struct {
	calc          *expression.Calculation
	prog          *expression.Program
	rejectOnFalse bool
}

// BranchIndexes implements Brancher.
func (Condition) BranchIndexes() []int { return []int{BranchOnFalse, BranchOnTrue} }

// Compile implements Instruction.
func (Condition) Compile(c *CompileContext, node *flow.Node) (any, error) {
	var cfg conditionConfig
	if err := DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	out := &compiledCondition{rejectOnFalse: cfg.RejectOnFalse}
	switch cfg.Engine {
	case "", "basic":
		calc, err := expression.CompileCalculation(cfg.Calculation, c.Calculators)
		if err != nil {
			return nil, c.Invalid(node, "config.calculation", "calculation does not compile", err)
		}
		if err := CheckRefs(c, node, "config.calculation", calc.Refs()); err != nil {
			return nil, err
		}
		out.calc = calc
	case "expr":
		if cfg.Expression == "" {
			return nil, c.Invalid(node, "config.expression", "expression is required with engine \"expr\"", nil)
		}
		prog, err := expression.Compile(cfg.Expression)
		if err != nil {
			return nil, c.Invalid(node, "config.expression", "expression does not compile", err)
		}
		if err := CheckRefs(c, node, "config.expression", prog.Refs()); err != nil {
			return nil, err
		}
		out.prog = prog
	default:
		return nil, c.Invalid(node, "config.engine", fmt.Sprintf("unknown engine %q (use \"basic\" or \"expr\")", cfg.Engine), nil)
	}
	return out, nil
}

var (
	branchTrue  = BranchOnTrue
	branchFalse = BranchOnFalse
)

// Run implements Instruction.
func (Condition) Run(_ context.Context, r *RunContext, _ *flow.Job) (Result, error) {
	cc := r.Compiled.(*compiledCondition)
	var result any
	if cc.calc != nil {
		ok, err := cc.calc.Evaluate(r.Scope)
		if err != nil {
			return Errored(err.Error()), nil
		}
		result = ok
	} else {
		v, err := cc.prog.Run(r.Scope)
		if err != nil {
			return Errored(err.Error()), nil
		}
		result = v
	}
	if !truthy(result) && cc.rejectOnFalse {
		return Failed(result), nil
	}
	res := Resolved(result)
	switch result {
	case true:
		res.Branch = &branchTrue
	case false:
		res.Branch = &branchFalse
	}
	return res, nil
}

// truthy is JavaScript truthiness.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0 && x == x
	case float32:
		return x != 0 && x == x
	case int:
		return x != 0
	case int64:
		return x != 0
	case int32:
		return x != 0
	case uint64:
		return x != 0
	}
	return true
}

// Atomic implements Atomic.
func (Condition) Atomic() bool { return true }
