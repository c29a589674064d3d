package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The demo is the README's first command: it must run and show each part of the
// scenario.
func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"demo"}, &out, &errOut); code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	got := out.String()
	for _, want := range []string{
		"refused (rejected by expense-check, HTTP 400)",
		"message: A claim needs a title and a positive amount (got -5).",
		"expense-review for expense #2 is STARTED: waiting for an approval",
		"approved: the execution resumes",
		"approve[manual]=RESOLVED -> record[create]=RESOLVED",
		"ledger (2)",
		"audit (3)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q\n%s", want, got)
		}
	}
	if strings.Contains(got, "QUEUEING  path") || strings.Contains(got, "STARTED   path") {
		t.Errorf("an execution did not finish:\n%s", got)
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Fatalf("no args: code %d, stderr %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"nope"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "nope"`) {
		t.Fatalf("unknown command: code %d, stderr %q", code, errOut.String())
	}
}

// bench --fail-first drains both workflows and checks itself: every
// execution RESOLVED, and exactly one retry per execution of the second.
func TestBenchFailFirst(t *testing.T) {
	for _, store := range []string{"memory", "sqlite"} {
		t.Run(store, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{"bench", "--store", store, "--n", "300", "--batch", "100", "--fail-first"}, &out, &errOut); code != 0 {
				t.Fatalf("bench exited %d: %s\n%s", code, errOut.String(), out.String())
			}
			got := out.String()
			for _, want := range []string{"passing node: total 300 executions", "failing first attempt: total 300 executions", "paired: fail-first/passing rate"} {
				if !strings.Contains(got, want) {
					t.Errorf("bench output lacks %q\n%s", want, got)
				}
			}
		})
	}
}
