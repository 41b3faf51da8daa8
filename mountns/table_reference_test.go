package mountns

import (
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
)

// reference is the definition of ByMountpoint and Covering, written as
// directly as possible (the code of dc881de, before the stacks were
// indexed and Covering made iterative): pairwise within a stack,
// recursive over the path. Exponential in the depth of the path, so only
// for small tables.
type reference struct {
	t       *Table
	onPoint map[string][]*Mount // mountinfo order
}

func newReference(t *Table) *reference {
	r := &reference{t: t, onPoint: map[string][]*Mount{}}
	for _, m := range t.Mounts() {
		r.onPoint[m.Mountpoint] = append(r.onPoint[m.Mountpoint], m)
	}
	return r
}

func (r *reference) byMountpoint(p string) *Mount {
	stack := r.onPoint[p]
	for i := len(stack) - 1; i >= 0; i-- {
		m, covered := stack[i], false
		for _, o := range stack {
			if o != m && o.Parent == m.ID {
				covered = true
			}
		}
		if !covered {
			return m
		}
	}
	if len(stack) == 0 {
		return nil
	}
	return stack[len(stack)-1]
}

func (r *reference) bottomOf(m *Mount, p string) *Mount {
	for range len(r.onPoint[p]) {
		parent := r.t.ByID(m.Parent)
		if parent == nil || parent == m || parent.Mountpoint != p {
			break
		}
		m = parent
	}
	return m
}

func (r *reference) covering(p string) *Mount {
	for {
		if m := r.byMountpoint(p); m != nil {
			if p == "/" {
				return m
			}
			if under := r.covering(path.Dir(p)); under == nil || under.ID == r.bottomOf(m, p).Parent {
				return m
			}
		}
		if p == "/" {
			return nil
		}
		p = path.Dir(p)
	}
}

// TestTableMatchesReference: on random small tables, stacked, nested,
// with parent links that are right, wrong, looping or dangling, and
// duplicate ids, ByMountpoint, the stack bottoms and Covering answer what
// the reference answers.
func TestTableMatchesReference(t *testing.T) {
	points := []string{"/", "/a", "/a/b", "/a/b/c", "/a/bc", "/b", "/b/a"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		n := 1 + rng.IntN(12)
		var text strings.Builder
		for i := range n {
			id := 10 + i
			if rng.IntN(10) == 0 {
				id = 10 + rng.IntN(n) // a duplicate id
			}
			parent := 10 + rng.IntN(n+2) // sometimes a missing mount
			if rng.IntN(4) == 0 {
				parent = 1 // outside the table, as the root's parent
			}
			p := points[rng.IntN(len(points))]
			fmt.Fprintf(&text, "%d %d 0:%d / %s rw - tmpfs m%d rw\n", id, parent, i, p, i)
		}
		tab := parseGenerated(t, text.String())
		ref := newReference(tab)
		for _, p := range points {
			top := tab.ByMountpoint(p)
			if want := ref.byMountpoint(p); top != want {
				t.Fatalf("round %d: ByMountpoint(%s) = %s, reference %s\n%s", round, p, desc(top), desc(want), text.String())
			}
			if top != nil {
				if got, want := bottomOf(top), ref.bottomOf(top, p); got != want {
					t.Fatalf("round %d: bottom of %s = %s, reference %s\n%s", round, p, desc(got), desc(want), text.String())
				}
			}
			for _, q := range []string{p, p + "/x", p + "/b/x"} {
				if got, want := tab.Covering(q), ref.covering(path.Clean(q)); got != want {
					t.Fatalf("round %d: Covering(%s) = %s, reference %s\n%s", round, q, desc(got), desc(want), text.String())
				}
			}
		}
	}
}
