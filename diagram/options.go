package diagram

import "github.com/actiontrigger/actiontrigger/flow"

// Option configures a drawing.
type Option func(*settings)

type settings struct {
	overlay bool
	jobs    []*flow.Job
}

// WithJobs marks the path of one execution: jobs are that execution's jobs
// (Engine.Jobs, storage.ExecutionStore.ListJobs). A node is styled by the
// status of its job with the highest Seq; jobs whose NodeKey is not in the
// workflow are ignored, as are nil entries. WithJobs(nil) draws an execution
// that reached no node: every node plain.
func WithJobs(jobs []*flow.Job) Option {
	return func(s *settings) {
		s.overlay = true
		s.jobs = jobs
	}
}

func newSettings(opts []Option) settings {
	var s settings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	return s
}

// latestJobs maps each node key to its job with the highest Seq (the later
// one in the slice on a tie).
func latestJobs(jobs []*flow.Job) map[string]*flow.Job {
	m := make(map[string]*flow.Job, len(jobs))
	for _, j := range jobs {
		if j == nil {
			continue
		}
		if cur, ok := m[j.NodeKey]; !ok || j.Seq >= cur.Seq {
			m[j.NodeKey] = j
		}
	}
	return m
}

// Status groups: the class names both drawings use.
const (
	classResolved = "resolved"
	classPending  = "pending"
	classFailed   = "failed"
)

// statusClass groups a job status: positive statuses resolve an execution,
// negative ones end it, PENDING pauses it.
func statusClass(s flow.JobStatus) string {
	switch {
	case s > flow.JobPending:
		return classResolved
	case s == flow.JobPending:
		return classPending
	default:
		return classFailed
	}
}

// palette is one status group's colours.
type palette struct{ fill, stroke, text string }

var (
	plainColours  = palette{fill: "#ffffff", stroke: "#64748b", text: "#0f172a"}
	statusColours = map[string]palette{
		classResolved: {fill: "#dcfce7", stroke: "#16a34a", text: "#14532d"},
		classPending:  {fill: "#fef3c7", stroke: "#d97706", text: "#78350f"},
		classFailed:   {fill: "#fee2e2", stroke: "#dc2626", text: "#7f1d1d"},
	}
)

const (
	edgeColour      = "#94a3b8"
	takenEdgeColour = "#1e293b"
)
