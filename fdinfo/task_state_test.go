package fdinfo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The stat lines under testdata/stat were read from real tasks on Linux
// 6.18: sleeping.txt a shell asleep, odd-comm.txt a sleep run as "x) Z 1
// (y" (its comm imitates a zombie's fields), zombie.txt a sleep killed and
// not reaped, zombie-leader.txt the main thread of a process that called
// pthread_exit in main while another thread ran on, whose stat is
// zombie-leader-live-thread.txt.
func TestParseTaskStat(t *testing.T) {
	for name, want := range map[string]struct {
		state   byte
		exiting bool
	}{
		"sleeping.txt":                  {'S', false},
		"odd-comm.txt":                  {'S', false},
		"zombie.txt":                    {'Z', true},
		"zombie-leader.txt":             {'Z', true},
		"zombie-leader-live-thread.txt": {'S', false},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "stat", name))
		if err != nil {
			t.Fatal(err)
		}
		st, err := parseTaskStat(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.State != want.state || st.exiting() != want.exiting {
			t.Errorf("%s: state %c flags %#x exiting %v, want %c exiting %v", name, st.State, st.Flags, st.exiting(), want.state, want.exiting)
		}
	}
	for _, bad := range []string{
		"",
		"4242 (fake",
		"4242 (fake) S 1 1 1 0 -1",
		"4242 (fake) S 1 1 1 0 -1 0x400",
		"4242 (fake) S 1 1 1 0 -1 -4",
		"4242 (fake) SS 1 1 1 0 -1 4194304",
		"4242 (fake) S 1 1 1 0 -1 99999999999999999999",
	} {
		if st, err := parseTaskStat([]byte(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %+v, %v; want a syntax error", bad, st, err)
		}
	}
}

// FuzzParseTaskStat: no input panics, and the comm field never changes
// the answer: whatever a task names itself, the fields are read after the
// last ')'.
func FuzzParseTaskStat(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "stat", "*.txt"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseTaskStat(b)
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			if err == nil {
				t.Fatalf("%q: parsed without a comm field", b)
			}
			return
		}
		plain := append([]byte("1 (a)"), b[i+1:]...)
		st2, err2 := parseTaskStat(plain)
		if (err == nil) != (err2 == nil) || st != st2 {
			t.Fatalf("%q: %+v %v, but with comm \"a\": %+v %v", b, st, err, st2, err2)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Fatalf("%q: %v is not a syntax error", b, err)
		}
	})
}
