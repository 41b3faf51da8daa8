package fixup

import (
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
)

func TestMain(m *testing.M) {
	scenario.MaybeRunChild() // the live tests re-execute this binary as their target
	maybeRunCrashChild()     // the crash test re-executes it to run one rewrite and be killed
	os.Exit(m.Run())
}
