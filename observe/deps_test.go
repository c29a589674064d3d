package observe_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTelemetryImports checks, with `go list -deps`, that the library's
// core links no telemetry library: OpenTelemetry comes in only with package
// otelobserve, and that package uses the OpenTelemetry API only (no SDK, no
// exporter, no Prometheus), leaving those choices to the host.
func TestNoTelemetryImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	const mod = "github.com/actiontrigger/actiontrigger"
	for _, tc := range []struct {
		pkgs      []string
		forbidden []string
	}{
		{
			pkgs:      []string{mod, mod + "/executor", mod + "/nodes", mod + "/observe", mod + "/flow", mod + "/storage/..."},
			forbidden: []string{"go.opentelemetry.io/", "github.com/prometheus/"},
		},
		{
			pkgs:      []string{mod + "/otelobserve"},
			forbidden: []string{"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters", "github.com/prometheus/"},
		},
	} {
		out, err := exec.Command("go", append([]string{"list", "-deps"}, tc.pkgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %v: %v\n%s", tc.pkgs, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %v listed only %v", tc.pkgs, deps)
		}
		for _, d := range deps {
			for _, f := range tc.forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%v depend on %s", tc.pkgs, d)
				}
			}
		}
	}
	// The check can fail: otelobserve does depend on the OpenTelemetry API.
	out, err := exec.Command("go", "list", "-deps", mod+"/otelobserve").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "go.opentelemetry.io/otel/trace\n") {
		t.Errorf("otelobserve does not list go.opentelemetry.io/otel/trace among its dependencies:\n%s", out)
	}
}
