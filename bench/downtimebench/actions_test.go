package main

import (
	"math"
	"os"
	"testing"
)

// TestActionTimes: the action points of a real CRIU 4.2 dump.log (runc,
// the config-file action-script route, excerpt of testdata): each lasts
// from "Running X scripts" to CRIU's next line that is neither its "\tRPC"
// note nor the script's name, past the hook's untimestamped lines.
func TestActionTimes(t *testing.T) {
	b, err := os.ReadFile("testdata/dump-script.log")
	if err != nil {
		t.Fatal(err)
	}
	got := actionTimes(string(b))
	want := map[string]float64{
		"pre-dump":       23837 - 16832,   // to "irmap: Searching irmap cache in work dir"
		"network-lock":   134250 - 125351, // to "RPC NOTIFY query-ext-files"
		"post-dump":      249572 - 228197, // to "net: Unlock network", past the hook's lines
		"network-unlock": 324401 - 249589, // to "Unfreezing tasks into 1"
	}
	if len(got) != len(want) {
		t.Errorf("actionTimes: %v, want the actions %v", got, want)
	}
	for a, w := range want {
		if math.Abs(got[a]-w) > 0.5 {
			t.Errorf("%s: %.1f µs, want %.0f", a, got[a], w)
		}
	}
	if f, w := inFreeze(string(b)), want["network-lock"]+want["post-dump"]+want["network-unlock"]; math.Abs(f-w) > 1 {
		t.Errorf("inFreeze: %.1f µs, want %.0f", f, w)
	}
	t.Logf("action points (µs): %v", got)
}
