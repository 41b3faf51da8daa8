package main

import (
	"context"
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
)

// startScenario starts the demo scenario with the test binary as child.
// The test binary's TestMain does not call MaybeRunChild (it builds the
// real ovlfix instead), so the child is that binary: `ovlfix` runs
// MaybeRunChild first thing.
func startScenario(t *testing.T) *scenario.Child {
	t.Helper()
	base, err := os.MkdirTemp("", "ovlfix-cli-scn-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := scenario.StartWith(context.Background(), binary, scenario.Demo(base))
	if err != nil {
		os.Remove(base)
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}
