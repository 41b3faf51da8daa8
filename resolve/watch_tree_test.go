package resolve

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
)

// buildTree writes, on the host before the scenario child starts, a lower
// layer of dirs × subs × files files under base/lower (base/lower/dNN/sNN/
// fNNNN), and one file deeper than all the others; it returns that file's
// path relative to the layer. The upper layer gets one file per lower
// directory when spread (every directory is then merged, as after a
// package install touched the whole tree), else files of its own dir.
// The tree is too big for the scenario's steps (the spec travels in one
// environment string), so it needs a Spec with HostLayers.
func buildTree(t testing.TB, base string, dirs, subs, files int, spread bool) string {
	t.Helper()
	write := func(rel string) {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for d := range dirs {
		for s := range subs {
			for f := range files {
				write(fmt.Sprintf("lower/d%02d/s%02d/f%04d", d, s, f))
			}
		}
	}
	for d := range dirs {
		for s := range subs {
			if spread {
				write(fmt.Sprintf("upper/d%02d/s%02d/upper", d, s))
			} else {
				write(fmt.Sprintf("upper/u/f%02d%02d", d, s))
			}
		}
	}
	deep := fmt.Sprintf("d%02d/s%02d/deep/deeper/target.txt", dirs-1, subs-1)
	write("lower/" + deep)
	return deep
}

// treeSpec mounts base/lower and base/upper (built by buildTree) on
// base/merged and watches the deep file; hold also keeps it open (a hint).
// With upperTmpfs the upper layer is an empty tmpfs instead (mounted in the
// child's namespace), so the layers are on two filesystems.
func treeSpec(base, deep string, hold, upperTmpfs bool) scenario.Spec {
	upper := "upper"
	var steps []scenario.Step
	if upperTmpfs {
		upper = "up/upper"
		steps = append(steps, scenario.Step{Do: "tmpfs", Path: p("up")}, scenario.Step{Do: "mkdir", Path: p(upper)})
	}
	steps = append(steps, []scenario.Step{
		{Do: "mkdir", Path: p(upper + "-work")},
		{Do: "mkdir", Path: p("merged")},
		{Do: "overlay", Path: p("merged"), Lower: []string{"lower"}, Upper: upper, Work: upper + "-work", Label: "main"},
		{Do: "watch", Path: p("merged/" + deep), Label: "deep"},
	}...)
	if hold {
		steps = append(steps, scenario.Step{Do: "open", Path: p("merged/" + deep), Label: "fd-deep"})
	}
	return scenario.Spec{Base: base, HostLayers: true, Steps: steps}
}
