package flow

import (
	"fmt"
	"time"
)

// Task is one assignee's share of a manual-approval job.
type Task struct {
	ID          string `json:"id"`
	JobID       string `json:"jobId"`
	ExecutionID string `json:"executionId"`
	WorkflowID  string `json:"workflowId"`
	// WorkflowKey copies the workflow key, for listing a user's tasks by workflow.
	WorkflowKey string `json:"workflowKey"`
	NodeKey     string `json:"nodeKey"`
	// UserID is the assignee, as text (UserKey).
	UserID string     `json:"userId"`
	Title  string     `json:"title"`
	Status TaskStatus `json:"status"`
	// Result is the submission: {"<formKey>": {...}, "_": "<actionKey>"}.
	Result    any       `json:"result"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Clone returns a copy that shares Result (treated as immutable).
func (t *Task) Clone() *Task {
	c := *t
	return &c
}

// UserKey turns a user id of any type (int, int64, float64 from JSON, string)
// into the text form tasks store, so 2, int64(2), 2.0 and "2" name one user.
func UserKey(id any) string {
	switch v := id.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		if v == float64(int64(v)) {
			return fmt.Sprint(int64(v))
		}
		return fmt.Sprint(v)
	case float32:
		return UserKey(float64(v))
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(id)
}
