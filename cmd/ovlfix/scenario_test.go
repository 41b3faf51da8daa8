package main

import (
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
)

// startScenario starts the demo scenario with the real ovlfix binary as the
// child (it calls scenario.MaybeRunChild first thing in main).
func startScenario(t *testing.T) *scenario.Child {
	t.Helper()
	return scenariotest.StartT(t, binary, scenario.Demo)
}
