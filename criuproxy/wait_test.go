package criuproxy

import (
	"testing"
	"time"
)

// waitFor polls cond (every 5 ms, at most 20 s): for a state another
// process reaches.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
