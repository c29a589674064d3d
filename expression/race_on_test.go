//go:build race

package expression_test

// fastRun is how long a bounded run may take: the race detector slows the
// VM and the builtins down several times.
const fastRun = 10e9
