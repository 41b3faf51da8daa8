// Package scenariotest starts scenario children as live test targets. It
// is the *testing.T side of package scenario, kept apart so that the
// ovlfix binary (whose demo uses scenario) never links package testing.
package scenariotest

import (
	"context"
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/testenv"
)

// StartT starts a scenario as a live test target: it needs root (skipped
// elsewhere, failed in CI), makes and removes the base directory and stops
// the child when the test ends. exe is the child executable ("" for the
// test binary itself, whose TestMain must call scenario.MaybeRunChild);
// build makes the spec for the base directory.
func StartT(t testing.TB, exe string, build func(base string) scenario.Spec) *scenario.Child {
	t.Helper()
	testenv.RequireRoot(t)
	base, err := os.MkdirTemp("", "ovlfix-test-")
	if err != nil {
		t.Fatal(err)
	}
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := scenario.StartWith(context.Background(), exe, build(base))
	if err != nil {
		os.Remove(base)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop scenario: %v", err)
		}
	})
	return c
}
