package nodes

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
)

// DecodeConfig decodes a node's config map into dst (a pointer to a struct with
// json tags), rejecting unknown fields. Meant for Compile, never for Run.
func DecodeConfig(c *CompileContext, node *flow.Node, dst any) error {
	raw, err := json.Marshal(node.Config)
	if err != nil {
		return c.Invalid(node, "config", "config is not JSON-serialisable", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return c.Invalid(node, "config", "bad config", err)
	}
	return nil
}

// CompileTemplate compiles v as a template and checks that the variables it reads
// exist (see CheckRefs). field names the config field in errors.
func CompileTemplate(c *CompileContext, node *flow.Node, field string, v any) (*expression.Template, error) {
	t, err := expression.CompileTemplate(v)
	if err != nil {
		return nil, c.Invalid(node, field, "template does not parse", err)
	}
	if err := CheckRefs(c, node, field, t.Refs()); err != nil {
		return nil, err
	}
	return t, nil
}

// CheckRefs validates variable paths read by a template or expression:
// $context.data.<field>... must name fields of the trigger collection (following
// associations into their targets), and $jobsMapByNodeKey.<key> must name a node
// of the workflow. Other roots are not checked.
func CheckRefs(c *CompileContext, node *flow.Node, field string, refs []string) error {
	for _, ref := range refs {
		segs := strings.Split(ref, ".")
		switch segs[0] {
		case "$context":
			if len(segs) >= 3 && segs[1] == "data" && c.Collections != nil {
				if err := checkFieldPath(c, segs[2:]); err != nil {
					return c.Invalid(node, field, fmt.Sprintf("variable %q", ref), err)
				}
			}
		case "$jobsMapByNodeKey":
			if len(segs) >= 2 && c.NodeKeys != nil && !c.NodeKeys[segs[1]] {
				return c.Invalid(node, field, fmt.Sprintf("variable %q names no node of the workflow", ref), nil)
			}
		}
	}
	return nil
}

func checkFieldPath(c *CompileContext, path []string) error {
	coll, ok := c.Collections.Collection(c.Workflow.Config.Collection)
	if !ok {
		return fmt.Errorf("collection %q: %w", c.Workflow.Config.Collection, flow.ErrUnknownCollection)
	}
	for i, seg := range path {
		if isIndex(seg) {
			continue
		}
		f, ok := coll.Field(seg)
		if !ok {
			if coll.HasField(seg) {
				return nil // a key field
			}
			return fmt.Errorf("collection %q has no field %q: %w", coll.FullName(), seg, flow.ErrUnknownField)
		}
		if !f.Type.IsAssociation() || i == len(path)-1 {
			return nil // scalar or JSON field: deeper segments are data, not schema
		}
		ds, _ := flow.SplitCollectionName(coll.FullName())
		target, ok := c.Collections.Collection(flow.JoinCollectionName(ds, f.Target))
		if !ok {
			return fmt.Errorf("association %q targets %q: %w", seg, f.Target, flow.ErrUnknownCollection)
		}
		coll = target
	}
	return nil
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
