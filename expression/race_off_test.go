//go:build !race

package expression_test

// fastRun is how long a bounded run may take.
const fastRun = 1e9
