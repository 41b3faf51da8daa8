package criuproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/hook"
	"github.com/ovlfix/ovlfix/manifest"
	"golang.org/x/sys/unix"
)

// Roles of this test binary besides running the tests:
//   - `<bin> swrk FD` with $OVLFIX_FAKE_LOG set: the fake CRIU
//     (fake_criu_test.go);
//   - $OVLFIX_TEST_PROXY=FD: the proxy itself (Run), with the fake CRIU
//     (this binary) as the real one and a recording hook.
const (
	envTestProxy    = "OVLFIX_TEST_PROXY"
	envHookLog      = "OVLFIX_TEST_HOOK_LOG"   // the recording hook's JSON lines
	envHookFail     = "OVLFIX_TEST_HOOK_FAIL"  // the action at which the hook fails the dump
	envHookStuck    = "OVLFIX_TEST_HOOK_STUCK" // the action at which the hook never returns
	envProxyBudget  = "OVLFIX_TEST_BUDGET"     // Options.Budget and Grace
	exitProxyFailed = 97
)

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "swrk" && os.Getenv(envFakeLog) != "" {
		os.Exit(runFakeCRIU(os.Args[2]))
	}
	if v := os.Getenv(envTestProxy); v != "" {
		os.Exit(runTestProxy(v))
	}
	os.Exit(m.Run())
}

// hookCall is what the recording hook saw.
type hookCall struct {
	Action   string
	ImageDir string
	CRIUPID  int
	InitPID  int
	WorkDir  string
	// Marker: the marker file is readable through ImageDir and WorkDir.
	Marker, WorkMarker bool
}

func runTestProxy(fdArg string) int {
	fd, err := strconv.Atoi(fdArg)
	if err != nil {
		return exitProxyFailed
	}
	os.Unsetenv(envTestProxy) // the fake CRIU must not be a proxy too
	self, _ := os.Executable()
	var budget time.Duration
	if v := os.Getenv(envProxyBudget); v != "" {
		budget, _ = time.ParseDuration(v)
	}
	// As cmd/ovlfix's criu command: Run cancels its context on a signal and
	// passes it on to CRIU.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	ws, err := Run(context.Background(), Options{
		Real: self, SocketFD: fd, Log: os.Stderr, Hook: recordingHook, Budget: budget, Grace: budget, Signals: sigs,
		SignalCause: func(sig os.Signal) error { return fmt.Errorf("test proxy: %v", sig) },
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
		return exitProxyFailed
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func recordingHook(ctx context.Context, env hook.Env, opts hook.Options) error {
	c := hookCall{Action: env.Action, ImageDir: env.ImageDir, CRIUPID: env.CRIUPID, InitPID: env.InitPID, WorkDir: opts.WorkDir}
	_, err := os.Stat(env.ImageDir + "/marker")
	c.Marker = err == nil
	_, err = os.Stat(opts.WorkDir + "/marker")
	c.WorkMarker = err == nil
	fmt.Fprintf(opts.Log, "test hook line: %s\n", env.Action)
	f, err := os.OpenFile(os.Getenv(envHookLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	b, _ := json.Marshal(c)
	f.Write(append(b, '\n'))
	f.Close()
	if opts.DeferCheck != nil && os.Getenv(envHookLateHandover) != "" && env.Action == hook.ActionPostDump {
		// A post-dump left behind: it hands its check over well after
		// the proxy answered CRIU without it.
		<-ctx.Done()
		grace, _ := time.ParseDuration(os.Getenv(envProxyBudget))
		time.Sleep(4 * grace)
	}
	if opts.DeferCheck != nil {
		deferTestCheck(env, opts)
	}
	if os.Getenv(envHookStuck) == env.Action {
		var p [2]int
		unix.Pipe(p[:])
		var buf [1]byte
		unix.Read(p[0], buf[:]) // a call no context ends
	}
	if os.Getenv(envHookFail) == env.Action {
		return fmt.Errorf("test: the dump is unrepairable")
	}
	return nil
}

// deferredWriteRecord is the line the recording hook's deferred check
// appends to the fake CRIU's log, between CRIU's own records.
const deferredWriteRecord = "deferred-write"

// envLateStuck makes the deferred check block in a call no context ends.
const envLateStuck = "OVLFIX_TEST_LATE_STUCK"

// envLateWaitCtx makes the deferred check wait for its context's end (at
// most 30 s), logging lateStartedRecord first and lateStoppedRecord when
// its context ended; it then writes nothing.
const (
	envLateWaitCtx      = "OVLFIX_TEST_LATE_WAIT_CTX"
	lateStartedRecord   = "late-check-started"
	lateStoppedRecord   = "late-check-stopped"
	envHookLateHandover = "OVLFIX_TEST_HOOK_LATE_HANDOVER" // post-dump hands over its check after the proxy gave up on it
	envLateSleep        = "OVLFIX_TEST_LATE_SLEEP"         // a duration the deferred check takes before it writes
)

// deferTestCheck defers a stand-in for post-dump's check after the freeze,
// as hook.Run does: the images directory held now, the manifest written
// and deferredWriteRecord logged when the proxy runs it with run true;
// with run false nothing is written.
func deferTestCheck(env hook.Env, opts hook.Options) {
	d, err := os.Open(env.ImageDir)
	if err != nil {
		return
	}
	opts.DeferCheck(func(ctx context.Context, run bool) {
		defer d.Close()
		if !run {
			return
		}
		if d, err := time.ParseDuration(os.Getenv(envLateSleep)); err == nil {
			time.Sleep(d)
		}
		if os.Getenv(envLateWaitCtx) != "" {
			appendFakeLog(lateStartedRecord)
			select {
			case <-ctx.Done():
				appendFakeLog(lateStoppedRecord + " " + strconv.Quote(context.Cause(ctx).Error()))
				return
			case <-time.After(30 * time.Second):
			}
		}
		if os.Getenv(envLateStuck) != "" {
			var p [2]int
			unix.Pipe(p[:])
			var buf [1]byte
			unix.Read(p[0], buf[:])
		}
		if err := os.WriteFile("/proc/self/fd/"+strconv.Itoa(int(d.Fd()))+"/"+manifest.FileName, []byte("{}\n"), 0o644); err != nil {
			return
		}
		appendFakeLog(deferredWriteRecord)
	})
}

// appendFakeLog appends a line to the fake CRIU's log, between its own
// records.
func appendFakeLog(line string) {
	if f, err := os.OpenFile(os.Getenv(envFakeLog), os.O_WRONLY|os.O_APPEND, 0); err == nil {
		fmt.Fprintln(f, line)
		f.Close()
	}
}
