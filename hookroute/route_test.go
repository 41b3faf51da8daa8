package hookroute

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"Version: 3.17.1\n":           {3, 17, 1},
		"Version: 4.2\n":              {4, 2, 0},
		"Version: 4.1.1\nGitID: v4\n": {4, 1, 1},
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "criu 4.2\n", "Version: 4\n", "Version: 4.x\n", "Version: 1.2.3.4\n"} {
		if v, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", bad, v)
		}
	}
}

// TestRouteMatrix is the decision for every CRIU version class and
// runtime, the table of docs/hook.md.
func TestRouteMatrix(t *testing.T) {
	versions := map[string]Version{"3.17.1": {3, 17, 1}, "3.18": {3, 18, 0}, "3.19": {3, 19, 0}, "4.1.1": {4, 1, 1}, "4.2": {4, 2, 0}}
	// want[version][runtime] = statuses of proxy, config, cli
	W, T, B, N := Works, RunsTwice, Breaks, NotApplicable
	rpcOld, rpcMid, rpcNew := [3]Status{W, B, N}, [3]Status{W, T, N}, [3]Status{W, W, N}
	want := map[string]map[Runtime][3]Status{
		"3.17.1": {Runc: rpcOld, Podman: rpcOld, Containerd: rpcOld, CRIU: {N, B, W}},
		"3.18":   {Runc: rpcOld, Podman: rpcOld, Containerd: rpcOld, CRIU: {N, B, W}},
		"3.19":   {Runc: rpcMid, Podman: rpcMid, Containerd: rpcMid, CRIU: {N, W, W}},
		"4.1.1":  {Runc: rpcMid, Podman: rpcMid, Containerd: rpcMid, CRIU: {N, W, W}},
		"4.2":    {Runc: rpcNew, Podman: rpcNew, Containerd: rpcNew, CRIU: {N, W, W}},
	}
	for vs, byRT := range want {
		for rt, st := range byRT {
			for i, r := range Routes {
				a := Assess(versions[vs], rt, r)
				if a.Status != st[i] || a.Reason == "" {
					t.Errorf("CRIU %s %s %s: %s (%s), want %s", vs, rt, r, a.Status, a.Reason, st[i])
				}
				_, err := Choose(versions[vs], rt, r)
				if (err == nil) != st[i].Safe() {
					t.Errorf("CRIU %s %s --route %s: Choose error %v, status %s", vs, rt, r, err, st[i])
				}
			}
			def, err := Choose(versions[vs], rt, "")
			if err != nil || def.Route != DefaultRoute(rt) || def.Status != Works {
				t.Errorf("CRIU %s %s default route: %+v %v; want %s, works", vs, rt, def, err, DefaultRoute(rt))
			}
		}
	}
}

// TestRefusalSaysWhy: the config route for runc on 3.17.1 names the BUG
// and the route to use.
func TestRefusalSaysWhy(t *testing.T) {
	_, err := Choose(Version{3, 17, 1}, Runc, Config)
	var re *RefusedError
	if !errors.As(err, &re) || re.Instead != Proxy {
		t.Fatalf("err %v, want a RefusedError pointing to the proxy", err)
	}
	for _, s := range []string{"CRIU 3.17.1 aborts every runc checkpoint", "criu/action-scripts.c:172", "--route proxy"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal %q lacks %q", err, s)
		}
	}
}
