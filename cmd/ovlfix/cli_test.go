package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/proto"
)

// binary is the ovlfix built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ovlfix-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ovlfix")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ovlfix: %v\n%s", err, out)
		os.Exit(1)
	}
	// Readable by the unprivileged user of TestDumpPermissionDenied.
	os.Chmod(dir, 0o755)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, so.String(), se.String()}
}

func ovlfix(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, exec.Command(binary, args...))
}

func expect(t *testing.T, r result, code int, stderrHas string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, stderrHas) {
		t.Fatalf("exit %d, stderr %q; want exit %d and %q (stdout %q)", r.code, r.stderr, code, stderrHas, r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	expect(t, ovlfix(t, "dump"), exitUsage, "exactly one PID")
	expect(t, ovlfix(t, "dump", "abc"), exitUsage, "positive number")
	expect(t, ovlfix(t, "dump", "1", "-o", "xml"), exitUsage, "text or json")
	expect(t, ovlfix(t, "dump", "1", "--bogus"), exitUsage, "unknown flag")
	expect(t, ovlfix(t, "demo", "extra"), exitUsage, "no arguments")
}

func TestDumpNoSuchProcess(t *testing.T) {
	expect(t, ovlfix(t, "dump", "4194304"), exitNoProcess, "no such process")
}

// TestDumpPermissionDenied runs ovlfix as nobody against pid 1.
func TestDumpPermissionDenied(t *testing.T) {
	testenv.RequireRoot(t)
	cmd := exec.Command(binary, "dump", "1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	expect(t, run(t, cmd), exitPermission, "permission denied")
}

func TestDumpImagesDirNotWritable(t *testing.T) {
	// A regular file where a directory should be: fails even for root.
	expect(t, ovlfix(t, "dump", fmt.Sprint(os.Getpid()), "-D", "/etc/hostname/imgs"), exitOutput, "images directory")
}

// TestDumpKernelWithoutOverlay hides overlay from /proc/filesystems in a
// private mount namespace, the way a kernel without it looks.
func TestDumpKernelWithoutOverlay(t *testing.T) {
	testenv.RequireRoot(t)
	fake := filepath.Join(t.TempDir(), "filesystems")
	if err := os.WriteFile(fake, []byte("nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /proc/filesystems && exec "$2" dump 1`, "sh", fake, binary)
	expect(t, run(t, cmd), exitNoOverlay, "no overlay filesystem")
}

func TestExitCodeMapping(t *testing.T) {
	for err, want := range map[error]int{
		nil:                                      exitOK,
		fmt.Errorf("x: %w", fdinfo.ErrExited):    exitExited,
		fmt.Errorf("x: %w", fdinfo.ErrNoProcess): exitNoProcess,
		withCode(exitOutput, errors.New("x")):    exitOutput,
		errors.New("other"):                      exitFailure,
		usageError{errors.New("bad flag")}:       exitUsage,
		fmt.Errorf("images in d: %w", &proto.BadFileError{Path: "files.img", What: "a FIFO, not a regular file"}): exitBadImageFile,
		// Only usageError is 2: errors about files are never usage.
		&fs.PathError{Op: "open", Path: "files.img", Err: syscall.ELOOP}:        exitFailure,
		fmt.Errorf("images: %w", &fs.PathError{Op: "open", Err: fs.ErrInvalid}): exitFailure,
		errors.New("usage: not really"):                                         exitFailure,
	} {
		if got := exitCode(err); got != want {
			t.Errorf("exitCode(%v) = %d, want %d", err, got, want)
		}
	}
}

// TestDemo runs the README's main command and checks its self-check.
func TestDemo(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "crit", "criu")
	r := ovlfix(t, "demo")
	if r.code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"all 10 held objects reported", "files.img", "crit decode: ok", "fdinfo-1.img", "mountpoints-1.img"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "MISSING") {
		t.Errorf("demo reported a missing object:\n%s", r.stdout)
	}
	// Everything is gone afterwards: no demo directories, no mounts.
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "ovlfix-demo-*"))
	if len(left) > 0 {
		t.Errorf("demo left %v", left)
	}
}

// TestDumpJSONLossless dumps a live child holding the hostile file name
// and decodes the JSON report: path_b64 gives the exact bytes back.
func TestDumpJSONLossless(t *testing.T) {
	testenv.RequireRoot(t)
	c := startScenario(t)
	dir := t.TempDir()
	r := ovlfix(t, "dump", fmt.Sprint(c.PID), "-o", "json", "-D", dir)
	if r.code != 0 {
		t.Fatalf("dump exit %d: %s", r.code, r.stderr)
	}
	var rep dump.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(c.Merged+"/"), scenario.OddName()...)
	found := false
	for _, o := range rep.Processes[0].Objects {
		b, err := base64.StdEncoding.DecodeString(o.PathB64)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(b, want) {
			found = o.MntID == c.MntID && o.Verdict == "ok"
		}
	}
	if !found {
		t.Fatalf("no ok object with path %q and mnt_id %d in the JSON report", want, c.MntID)
	}
	if _, err := os.Stat(filepath.Join(dir, dump.ReportFile)); err != nil {
		t.Errorf("report file: %v", err)
	}
}

// TestDumpTree dumps a shell and its child: two processes, two file tables
// (fork copies the table), both holding the inherited fd 7.
func TestDumpTree(t *testing.T) {
	sh := exec.Command("sh", "-c", "exec 7</etc/hostname; sleep 60 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	var rep dump.Report
	for try := 0; try < 50; try++ { // wait for the child to exist
		r := ovlfix(t, "dump", "--tree", "-o", "json", fmt.Sprint(sh.Process.Pid))
		if r.code != 0 {
			t.Fatalf("dump --tree exit %d: %s", r.code, r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Processes) == 2 {
			break
		}
	}
	if len(rep.Processes) != 2 {
		t.Fatalf("processes %d, want 2", len(rep.Processes))
	}
	ids := map[uint32]bool{}
	for _, p := range rep.Processes {
		ids[p.FilesID] = true
		has7 := false
		for _, o := range p.Objects {
			has7 = has7 || (o.Kind == "fd" && o.FD == 7 && o.Path == "/etc/hostname")
		}
		if !has7 {
			t.Errorf("pid %d (%s): fd 7 on /etc/hostname missing", p.PID, p.Comm)
		}
	}
	if len(ids) != 2 || rep.Processes[1].PPID != rep.Processes[0].PID {
		t.Errorf("files ids %v, ppid %d: want two tables and parent/child", ids, rep.Processes[1].PPID)
	}
}
