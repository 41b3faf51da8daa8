package hook

import (
	"errors"
	"strings"
	"testing"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseEnv(t *testing.T) {
	// What CRIU 3.17.1 sets (criu/action-scripts.c): the image dir is a
	// /proc/<criu-pid>/fd/<n> link.
	full := map[string]string{EnvAction: "post-dump", EnvImageDir: "/proc/4242/fd/3", EnvInitPID: "4300"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		if v == "<unset>" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Env
		wantErr error
		errHas  string // the message must name this
	}{
		{name: "post-dump", env: full, want: Env{Action: "post-dump", ImageDir: "/proc/4242/fd/3", CRIUPID: 4242, InitPID: 4300}},
		{name: "post-dump without image dir", env: with(EnvImageDir, "<unset>"), wantErr: ErrBadEnv, errHas: EnvImageDir},
		{name: "pre-dump", env: map[string]string{EnvAction: "pre-dump", EnvInitPID: "7"}, want: Env{Action: "pre-dump", InitPID: 7}},
		{name: "image dir not under /proc", env: with(EnvImageDir, "/var/lib/criu/img"), want: Env{Action: "post-dump", ImageDir: "/var/lib/criu/img", InitPID: 4300}},
		{name: "no action", env: map[string]string{EnvInitPID: "1"}, wantErr: ErrNotCRIU, errHas: EnvAction},
		{name: "empty action", env: with(EnvAction, ""), wantErr: ErrBadEnv, errHas: EnvAction},
		{name: "other action needs nothing", env: map[string]string{EnvAction: "network-lock"}, want: Env{Action: "network-lock"}},
		{name: "init pid unset", env: with(EnvInitPID, "<unset>"), wantErr: ErrBadEnv, errHas: EnvInitPID},
		{name: "init pid not a number", env: with(EnvInitPID, "abc"), wantErr: ErrBadEnv, errHas: `"abc"`},
		{name: "init pid zero", env: with(EnvInitPID, "0"), wantErr: ErrBadEnv, errHas: EnvInitPID},
		{name: "init pid negative", env: with(EnvInitPID, "-1"), wantErr: ErrBadEnv, errHas: EnvInitPID},
		{name: "relative image dir", env: with(EnvImageDir, "img"), wantErr: ErrBadEnv, errHas: EnvImageDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnv(lookupFrom(tc.env))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not name %s", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCRIUPIDOf(t *testing.T) {
	for in, want := range map[string]int{
		"/proc/4242/fd/3":    4242,
		"/proc/self/fd/3":    0,
		"/proc/4242/fd/x":    0,
		"/proc/4242/cwd":     0,
		"/var/lib/criu/4242": 0,
		"/proc/-1/fd/3":      0,
	} {
		if got := criuPIDOf(in); got != want {
			t.Errorf("criuPIDOf(%q) = %d, want %d", in, got, want)
		}
	}
}
