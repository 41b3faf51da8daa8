package quirks

import (
	"os"
	"testing"
)

// TestMain lets Probe re-execute the test binary as the probe child.
func TestMain(m *testing.M) {
	MaybeRunProbeChild()
	os.Exit(m.Run())
}
