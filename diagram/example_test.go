package diagram_test

import (
	"bytes"
	"fmt"

	"github.com/actiontrigger/actiontrigger/diagram"
	"github.com/actiontrigger/actiontrigger/flow"
)

// reviewWorkflow: claims over 500 get a review and wait for an approval,
// then every claim is booked.
func reviewWorkflow() *flow.Workflow {
	return &flow.Workflow{
		Key: "expense-review", Title: "Claims over 500 wait for a manager",
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "big", Title: "Over 500?", Type: "condition", Branches: map[int][]flow.Node{
				1: {
					{Key: "review", Type: "create"},
					{Key: "approve", Title: "Manager approves", Type: "manual"},
				},
			}},
			{Key: "record", Title: "Book it", Type: "create"},
		},
	}
}

func ExampleMermaid() {
	fmt.Print(diagram.Mermaid(reviewWorkflow()))
	// Output:
	// flowchart TD
	//     start(["expenses<br/>local · async"])
	//     n1{{"Over 500?<br/>condition"}}
	//     n2["review<br/>create"]
	//     n3["Manager approves<br/>manual"]
	//     n4["Book it<br/>create"]
	//     stop(["end"])
	//     start --> n1
	//     n1 -->|true| n2
	//     n2 --> n3
	//     n3 --> n4
	//     n1 -->|false| n4
	//     n4 --> stop
}

// An execution of a big claim paused at the approval: the condition chose
// branch 1 (true), the review was created, the manual job waits.
func ExampleWithJobs() {
	one := 1
	jobs := []*flow.Job{
		{NodeKey: "big", Seq: 1, Status: flow.JobResolved, Branch: &one},
		{NodeKey: "review", Seq: 2, Status: flow.JobResolved},
		{NodeKey: "approve", Seq: 3, Status: flow.JobPending},
	}
	fmt.Print(diagram.Mermaid(reviewWorkflow(), diagram.WithJobs(jobs)))
	// Output:
	// flowchart TD
	//     start(["expenses<br/>local · async"])
	//     n1{{"Over 500?<br/>condition · RESOLVED"}}
	//     n2["review<br/>create · RESOLVED"]
	//     n3["Manager approves<br/>manual · PENDING"]
	//     n4["Book it<br/>create"]
	//     stop(["end"])
	//     start ==> n1
	//     n1 ==>|true| n2
	//     n2 ==> n3
	//     n3 --> n4
	//     n1 -->|false| n4
	//     n4 --> stop
	//     classDef resolved fill:#dcfce7,stroke:#16a34a,color:#14532d,stroke-width:2px
	//     class n1,n2 resolved
	//     classDef pending fill:#fef3c7,stroke:#d97706,color:#78350f,stroke-width:2px
	//     class n3 pending
	//     linkStyle 0,1,2 stroke:#1e293b,stroke-width:3px
}

// SVG draws the same graph as an image to serve or embed as is.
func ExampleSVG() {
	one := 1
	img := diagram.SVG(reviewWorkflow(), diagram.WithJobs([]*flow.Job{
		{NodeKey: "big", Seq: 1, Status: flow.JobResolved, Branch: &one},
	}))
	header, _, _ := bytes.Cut(img, []byte("\n"))
	fmt.Println(string(header))
	fmt.Println(bytes.Count(img, []byte(" data-key=")), "nodes,", bytes.Count(img, []byte(" data-from=")), "edges")
	fmt.Println(bytes.Count(img, []byte(`<g class="node branching resolved" data-key="big"`)), "resolved condition")
	// Output:
	// <svg xmlns="http://www.w3.org/2000/svg" width="320" height="496" viewBox="0 0 320 496" font-family="system-ui, sans-serif" class="actiontrigger-diagram">
	// 4 nodes, 6 edges
	// 1 resolved condition
}
