package fixup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/proto"
)

// Environment of the crash child: the images directory and root pid.
const (
	envCrashDir = "OVLFIX_FIXUP_CRASH_DIR"
	envCrashPID = "OVLFIX_FIXUP_CRASH_PID"
)

// maybeRunCrashChild runs one rewrite when the test binary was
// re-executed as the crash child, with random pauses between the steps
// so that the parent's SIGKILL lands everywhere, and exits.
func maybeRunCrashChild() {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		return
	}
	pid, _ := strconv.Atoi(os.Getenv(envCrashPID))
	pause := func(string) { time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) }
	if _, err := Run(context.Background(), dir, Options{RootPID: pid, pause: pause}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestCrashSafety kills a rewrite with SIGKILL at random instants, ~200
// times: afterwards files.img must be byte-equal to CRIU's original or to
// the complete repaired file, a backup (if any) must be the original and
// be vouched for by a report recording this dump's digests, the state
// must be one a later run accepts (checkBackup), and a later run must
// finish the repair. Temp files may remain; they are counted and must
// carry the temp prefix, never the real names.
func TestCrashSafety(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	pristine := testenv.DirFiles(t, f.Dir)

	// The complete repair, from an uninterrupted run in a copy.
	ref := restore(t, pristine)
	if _, err := Run(context.Background(), ref, Options{RootPID: f.RootPID}); err != nil {
		t.Fatal(err)
	}
	repaired := readFile(t, ref, proto.FilesImg)
	if bytes.Equal(repaired, f.Original) {
		t.Fatal("the fixture needs no repair")
	}
	origSum, repairedSum := sha256Hex(f.Original), sha256Hex(repaired)
	if rd := readDigests(t, ref); rd == nil || rd.Original != origSum || rd.Found != origSum || rd.Files != repairedSum {
		t.Fatalf("uninterrupted run records %+v, want original=found=%s files=%s", rd, origSum, repairedSum)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := func(dir string) *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashPID+"="+strconv.Itoa(f.RootPID))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// How long an uninterrupted child takes: the kills are spread over it.
	warm := restore(t, pristine)
	t0 := time.Now()
	cmd := start(warm)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("crash child without a kill: %v", err)
	}
	span := time.Since(t0)

	iterations := 200
	if testing.Short() {
		iterations = 40
	}
	var nOrig, nRepaired, nTemps, nReportOnly, nBackupOrig int
	for i := range iterations {
		dir := restore(t, pristine)
		cmd := start(dir)
		time.Sleep(time.Duration(rand.Int64N(int64(span))))
		_ = cmd.Process.Kill()
		_ = cmd.Wait()

		now := readFile(t, dir, proto.FilesImg)
		switch {
		case bytes.Equal(now, f.Original):
			nOrig++
		case bytes.Equal(now, repaired):
			nRepaired++
		default:
			t.Fatalf("iteration %d: files.img is neither the original nor the repaired file (%d bytes)", i, len(now))
		}
		if b, err := os.ReadFile(filepath.Join(dir, BackupFile)); err == nil && !bytes.Equal(b, f.Original) {
			t.Fatalf("iteration %d: backup is not the original", i)
		}
		if bytes.Equal(now, repaired) {
			if _, err := os.Stat(filepath.Join(dir, BackupFile)); err != nil {
				t.Fatalf("iteration %d: files.img repaired but no backup: %v", i, err)
			}
		}
		// The report, if the kill left one, records this dump's digests;
		// a backup is always vouched for by it, and the next run accepts
		// whatever state the kill left.
		rd := readDigests(t, dir)
		if rd != nil && (rd.Original != origSum || rd.Found != origSum || rd.Files != repairedSum) {
			t.Fatalf("iteration %d: report records %+v, want original=found=%s files=%s", i, rd, origSum, repairedSum)
		}
		_, berr := os.Stat(filepath.Join(dir, BackupFile))
		switch {
		case berr == nil && rd == nil:
			t.Fatalf("iteration %d: a backup but no report vouching for it", i)
		case berr == nil && bytes.Equal(now, f.Original):
			nBackupOrig++ // killed between the backup and the rename
		case berr != nil && rd != nil:
			nReportOnly++ // killed between the report and the backup
		}
		if st, err := checkBackup(dir, now); err != nil || st.originalSHA != origSum {
			t.Fatalf("iteration %d: the state left is not accepted: %+v %v", i, st, err)
		}
		temps := leftovers(dir)
		for _, n := range temps {
			if !strings.HasPrefix(n, ".") {
				t.Fatalf("iteration %d: leftover %q", i, n)
			}
		}
		nTemps += len(temps)
		if i%10 == 0 { // a later run finishes the job and keeps the true original
			rep, err := Run(context.Background(), dir, Options{RootPID: f.RootPID})
			if err != nil {
				t.Fatalf("iteration %d: run after the kill: %v", i, err)
			}
			if !bytes.Equal(readFile(t, dir, proto.FilesImg), repaired) || !bytes.Equal(readFile(t, dir, BackupFile), f.Original) {
				t.Fatalf("iteration %d: the run after the kill did not finish the repair", i)
			}
			if rd := readDigests(t, dir); rd.Original != origSum || rd.Files != repairedSum || rd.Found != rep.FoundSHA256 ||
				(rd.Found != origSum && rd.Found != repairedSum) {
				t.Fatalf("iteration %d: the run after the kill records %+v", i, rd)
			}
			if len(rep.Leftovers) != len(temps) {
				t.Errorf("iteration %d: report lists %d leftovers, %d found", i, len(rep.Leftovers), len(temps))
			}
		}
	}
	t.Logf("%d kills over %v: files.img original %d times (%d with only the report written, %d with report and backup), repaired %d times; %d temp files left in all",
		iterations, span, nOrig, nReportOnly, nBackupOrig, nRepaired, nTemps)
	if nOrig == 0 || nRepaired == 0 {
		t.Logf("note: the kills all landed on one side of the rename")
	}
}

// readDigests reads the digests of dir's report, nil when there is none.
func readDigests(t *testing.T, dir string) *reportDigests {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var rd reportDigests
	if err := json.Unmarshal(b, &rd); err != nil {
		t.Fatalf("%s: %v", ReportFile, err)
	}
	return &rd
}

// restore makes a new directory holding exactly snap.
func restore(t *testing.T, snap map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for n, b := range snap {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
