package hook

import (
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
)

func TestMain(m *testing.M) {
	scenario.MaybeRunChild() // live tests re-execute this binary as their target
	os.Exit(m.Run())
}
