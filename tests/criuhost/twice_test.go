package criuhost

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"google.golang.org/protobuf/proto"
)

// twiceScript is the action script of the run-twice tests: it records the
// images dir (CRIU's work dir too) before and after every pre-dump and
// post-dump run of the hook, as "<action>.<n>.before/after" in $STATE,
// and runs the hook $TIMES times per call (CRIU 4.2 runs a script once:
// TIMES=2 plays the double run of 3.19–4.1 in the same CRIU process,
// with the same CRTOOLS_IMAGE_DIR). CRIU's own log and output are left
// out: CRIU writes them all along.
const twiceScript = `#!/bin/sh
case "$CRTOOLS_SCRIPT_ACTION" in pre-dump|post-dump) ;; *) exec "$HOOK" ;; esac
i=0
while [ "$i" -lt "$TIMES" ]; do
	i=$((i + 1))
	n=$(ls "$STATE" | grep -c "^$CRTOOLS_SCRIPT_ACTION\..*\.before$")
	snap() { (cd "$CRTOOLS_IMAGE_DIR" && for f in *; do case "$f" in *.log|criu-*.out|\*) ;; *) sha256sum "$f" ;; esac; done) > "$STATE/$CRTOOLS_SCRIPT_ACTION.$n.$1"; }
	snap before
	"$HOOK" || exit $?
	snap after
done
`

// twiceSetup starts a container holder for the run-twice tests: its root
// is overlay A (lower /lowerfile watched by inotify: pre-dump seeds an
// irmap-cache entry), with overlay B on /data whose layers are on two
// tmpfs (xino=off) holding /data/lowerfile open (CRIU writes A's mnt_id:
// post-dump repairs files.img). It returns the namespace and the holder.
func twiceSetup(t *testing.T, tl tools) (*mountNS, *proc) {
	t.Helper()
	base := t.TempDir()
	l := newLayout(base, true)
	ns := newMountNS(t, tl.holder, base)
	t.Cleanup(ns.close)
	for _, d := range []string{l.lower, l.upper, l.work, l.merged, l.lower + "/data", l.lower + "/mnt/lo", l.lower + "/mnt/up"} {
		ns.write(d+"/", "", 0)
	}
	ns.write(l.lower+"/lowerfile", lowerData+"\n", 0o644)
	prog, err := os.ReadFile(tl.holder)
	if err != nil {
		t.Fatal(err)
	}
	ns.write(l.lower+"/bin/holder", string(prog), 0o755)
	cmd := ns.command(tl.holder, "unshare-mnt", "overlay", l.merged, l.lower, l.upper, l.work, "-",
		"pivot", l.merged, "exec", "/bin/holder",
		"tmpfs", "/mnt/lo", "tmpfs", "/mnt/up", "write", "/mnt/lo/lowerfile", lowerData,
		"mkdir", "/mnt/up/upper", "mkdir", "/mnt/up/work",
		"overlay", "/data", "/mnt/lo", "/mnt/up/upper", "/mnt/up/work", "xino=off",
		"open", "/data/lowerfile", "watch", "/lowerfile", "chdir", "/data")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	h := startHolder(t, "holder", cmd)
	t.Cleanup(h.kill)
	return ns, h
}

// writeTwiceScript writes the recording action script into dir.
func writeTwiceScript(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "twice.sh")
	if err := os.WriteFile(p, []byte(twiceScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshots reads the recorded states of action: runs[i] = {before, after}.
func snapshots(t *testing.T, state, action string) [][2]string {
	t.Helper()
	var runs [][2]string
	for n := 0; ; n++ {
		before, err := os.ReadFile(filepath.Join(state, fmt.Sprintf("%s.%d.before", action, n)))
		if err != nil {
			return runs
		}
		after, err := os.ReadFile(filepath.Join(state, fmt.Sprintf("%s.%d.after", action, n)))
		if err != nil {
			t.Fatalf("%s run %d: no state after it: the hook failed: %v", action, n+1, err)
		}
		runs = append(runs, [2]string{string(before), string(after)})
	}
}

// checkTwice asserts what the two runs of each action did: the first
// pre-dump writes irmap-cache, the first post-dump repairs files.img
// (files.img.ovlfix-orig appears); each second run leaves every file of
// the images dir byte-identical (irmap-cache, files.img, the backup, the
// report, the manifest) and says it was a no-op; and the backup is CRIU's
// original, never the repaired files.img.
func checkTwice(t *testing.T, images, state string, hookLog []string) {
	t.Helper()
	pre, post := snapshots(t, state, "pre-dump"), snapshots(t, state, "post-dump")
	if len(pre) != 2 || len(post) != 2 {
		t.Fatalf("the hook ran %d pre-dump and %d post-dump time(s), want 2 and 2; it said:\n%s", len(pre), len(post), strings.Join(hookLog, "\n"))
	}
	has := func(s, name string) bool {
		return regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(name) + `$`).MatchString(s)
	}
	if has(pre[0][0], "irmap-cache") || !has(pre[0][1], "irmap-cache") {
		t.Errorf("the first pre-dump did not write irmap-cache:\nbefore\n%safter\n%s", pre[0][0], pre[0][1])
	}
	if !has(post[0][1], "files.img.ovlfix-orig") || !has(post[0][1], "ovlfix-manifest.json") {
		t.Errorf("the first post-dump did not repair files.img and write the manifest:\n%s", post[0][1])
	}
	for _, r := range []struct {
		action string
		run    [2]string
	}{{"pre-dump", pre[1]}, {"post-dump", post[1]}} {
		if r.run[0] != r.run[1] {
			t.Errorf("the second %s changed the images dir:\nbefore\n%safter\n%s", r.action, r.run[0], r.run[1])
		}
	}
	sum := func(s, name string) string {
		for _, line := range strings.Split(s, "\n") {
			if h, n, ok := strings.Cut(line, "  "); ok && n == name {
				return h
			}
		}
		return ""
	}
	final := post[1][1]
	if orig, files, criuFiles := sum(final, "files.img.ovlfix-orig"), sum(final, "files.img"), sum(post[0][0], "files.img"); orig != criuFiles || orig == files {
		t.Errorf("files.img.ovlfix-orig is %s, CRIU's files.img was %s, the repaired one is %s: the backup must stay CRIU's original", orig, criuFiles, files)
	}
	for _, want := range []string{
		"pre-dump: irmap-cache already holds valid entries for every overlay watch: not rewritten",
		"post-dump: files.img is already ovlfix's repair",
	} {
		if !slices.ContainsFunc(hookLog, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("the second run did not say %q; the hook said:\n%s", want, strings.Join(hookLog, "\n"))
		}
	}
	for _, l := range hookLog {
		if strings.Contains(l, "a no-op") || strings.Contains(l, "not rewritten") || strings.Contains(l, "repaired in files.img") || strings.Contains(l, "irmap-cache in CRIU's work dir") {
			t.Logf("%s", l)
		}
	}
	t.Logf("images dir after both runs:\n%s", final)
}

// TestHookTwiceCRIU42: CRIU 4.2, `criu dump --action-script`, the script
// running the hook twice per action inside the same CRIU (its double run
// on 3.19–4.1, in the same process with the same images-dir link).
func TestHookTwiceCRIU42(t *testing.T) {
	tl := setupTools(t)
	becomeSubreaper(t)
	ns, h := twiceSetup(t, tl)
	images, state := t.TempDir(), t.TempDir()
	script := writeTwiceScript(t, t.TempDir())
	t.Setenv("HOOK", tl.hook)
	t.Setenv("STATE", state)
	t.Setenv("TIMES", "2")
	args := []string{"dump", "-t", strconv.Itoa(h.pid), "-D", images, "--shell-job", "--leave-running",
		"-v4", "-o", "dump.log", "--action-script", script}
	if err := runCRIU(ns, tl, images, "dump", args); err != nil {
		t.Fatal(err)
	}
	checkTwice(t, images, state, logLines(filepath.Join(images, "dump.log"), isHookLine, 200))
}

// criu411 is CRIU 4.1.1 (../shared/criu/4.1.1/criu, or OVLFIX_CRIU411).
func criu411(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OVLFIX_CRIU411")
	if p == "" {
		p = filepath.Join(testenv.MustRepoRoot(t), "..", "shared", "criu", "4.1.1", "criu")
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^Version: 4\.1\.1$`).Match(out) {
		testenv.Unavailable(t, fmt.Sprintf("needs CRIU 4.1.1 at %s (or OVLFIX_CRIU411): %v %s", p, err, out))
	}
	return p
}

// TestHookTwiceCRIU411ConfigFile: CRIU 4.1.1 runs an action script from
// the config file of an RPC (`criu swrk`) dump twice per action, both
// inside the freeze, as runc's `org.criu.config` / runc.conf route does;
// the hook's second run of each is a no-op. The same config file on the
// command line (`criu dump --config FILE`) runs it once: the double run
// is RPC mode's (TestHookOnceCRIU411CLIConfig).
func TestHookTwiceCRIU411ConfigFile(t *testing.T) {
	tl := setupTools(t)
	real := criu411(t)
	becomeSubreaper(t)
	ns, h := twiceSetup(t, tl)
	images, state, dir := t.TempDir(), t.TempDir(), t.TempDir()
	conf := twiceConfig(t, tl, dir, state)
	// go-criu runs "<path> swrk <fd>": run CRIU 4.1.1 in the holder's
	// mount namespace, as runCRIU does.
	wrapper := filepath.Join(dir, "criu-in-ns")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nexec nsenter -t %d -m -- %s \"$@\"\n", ns.anchor.pid, real)), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(images)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := criu.MakeCriu()
	c.SetCriuPath(wrapper)
	err = c.Dump(&rpc.CriuOpts{ImagesDirFd: proto.Int32(int32(d.Fd())), Pid: proto.Int32(int32(h.pid)),
		LeaveRunning: proto.Bool(true), ShellJob: proto.Bool(true), LogLevel: proto.Int32(4),
		LogFile: proto.String("dump.log"), ConfigFile: proto.String(conf)}, nil)
	hookLog := logLines(filepath.Join(images, "dump.log"), isHookLine, 200)
	if err != nil {
		t.Fatalf("criu 4.1.1 swrk dump: %v: %s", err, strings.Join(logLines(filepath.Join(images, "dump.log"), isCRIUError, 4), " | "))
	}
	checkTwice(t, images, state, hookLog)
}

// TestHookOnceCRIU411CLIConfig: the same config file given to CRIU 4.1.1
// on its command line (`criu dump --config FILE`) runs the script once
// per action: the double run is RPC mode's only.
func TestHookOnceCRIU411CLIConfig(t *testing.T) {
	tl := setupTools(t)
	real := criu411(t)
	becomeSubreaper(t)
	ns, h := twiceSetup(t, tl)
	images, state, dir := t.TempDir(), t.TempDir(), t.TempDir()
	conf := twiceConfig(t, tl, dir, state)
	tl.criu = real
	args := []string{"dump", "--config", conf, "-t", strconv.Itoa(h.pid), "-D", images, "--shell-job", "--leave-running",
		"-v4", "-o", "dump.log"}
	if err := runCRIU(ns, tl, images, "dump", args); err != nil {
		t.Fatal(err)
	}
	if pre, post := snapshots(t, state, "pre-dump"), snapshots(t, state, "post-dump"); len(pre) != 1 || len(post) != 1 {
		t.Errorf("criu 4.1.1 dump --config ran the script %d (pre-dump) and %d (post-dump) time(s), want once each", len(pre), len(post))
	}
}

// twiceConfig writes the recording action script and a CRIU config file
// naming it into dir, and sets what the script reads (the hook, the state
// dir, one run of the hook per call); it returns the config file's path.
func twiceConfig(t *testing.T, tl tools, dir, state string) string {
	t.Helper()
	script := writeTwiceScript(t, dir)
	conf := filepath.Join(dir, "criu.conf")
	if err := os.WriteFile(conf, []byte("action-script "+script+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOK", tl.hook)
	t.Setenv("STATE", state)
	t.Setenv("TIMES", "1")
	return conf
}
