package criuproxy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
	gproto "google.golang.org/protobuf/proto"
)

// The check post-dump defers (hook.Options.DeferCheck: resolution, the
// repair, the report and the manifest) runs after CRIU has the answer to
// post-dump (out of the freeze) and before CRIU's dump response reaches
// the runtime (which packs the images then), whether the runtime or the
// proxy answers the notifications.
func TestDeferredCheckBetweenAnswerAndResponse(t *testing.T) {
	for _, notify := range []bool{true, false} {
		name := map[bool]string{true: "runtime answers", false: "proxy answers"}[notify]
		t.Run(name, func(t *testing.T) {
			h := startProxy(t, setup{scripts: threeScripts})
			h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, notify)))
			for {
				pk := h.recv()
				r := decodeResp(t, pk.data)
				pk.closeFDs()
				if r.GetType() == proto.CriuReqNotify {
					h.send(notifyAnswer(t))
					continue
				}
				if r.GetType() != proto.CriuReqDump || !r.GetSuccess() {
					t.Fatalf("the runtime got %v, want the dump's success", r)
				}
				break
			}
			if _, err := os.Stat(filepath.Join(h.dir, manifest.FileName)); err != nil {
				t.Errorf("when the runtime has the dump response, the images dir has no manifest: %v", err)
			}
			h.finish()
			_, recs := h.fakeRecords()
			answer, write, resp := -1, -1, -1
			for i, r := range recs {
				switch {
				case r.what == deferredWriteRecord:
					write = i
				case r.what == "got":
					var req proto.CriuReq
					if gproto.Unmarshal(r.data, &req) == nil && req.GetType() == proto.CriuReqNotify {
						answer = i // the last answer: post-dump's
					}
				case r.what == "sent":
					var cr proto.CriuResp
					if gproto.Unmarshal(r.data, &cr) == nil && cr.GetType() == proto.CriuReqDump {
						resp = i
					}
				}
			}
			if answer < 0 || write < 0 || resp < 0 || !(answer < resp && resp < write) {
				t.Errorf("order in CRIU's log: post-dump answer at %d, dump response sent at %d, manifest written at %d; want answer < response sent < write (and the write before the runtime got it)", answer, resp, write)
			}
		})
	}
}

// A dump CRIU fails after post-dump is not checked and gets no manifest:
// the deferred check is dropped, and said so.
func TestDeferredCheckDroppedWhenTheDumpFails(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts, env: []string{envFakeFail + "=1"}})
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, false)))
	r := decodeResp(t, h.recv().data)
	if r.GetType() != proto.CriuReqDump || r.GetSuccess() {
		t.Fatalf("the runtime got %v, want the dump's failure", r)
	}
	h.finish()
	if _, err := os.Lstat(filepath.Join(h.dir, manifest.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed dump left a manifest (%v)", err)
	}
	_, recs := h.fakeRecords()
	for _, r := range recs {
		if r.what == deferredWriteRecord {
			t.Error("the deferred check ran for a failed dump")
		}
	}
	if s := h.proxyStderr(); !strings.Contains(s, "the dump did not succeed: the check after the freeze was dropped") {
		t.Errorf("the proxy did not say the check was dropped:\n%s", s)
	}
}

// A deferred check stuck in a call no context ends keeps the runtime
// waiting for the dump's answer no longer than the budget and its grace:
// the answer goes on, and the proxy says what the images are.
func TestStuckDeferredCheckIsLeftBehind(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts, env: []string{envLateStuck + "=1", envProxyBudget + "=50ms"}})
	start := time.Now()
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, false)))
	r := decodeResp(t, h.recv().data)
	if r.GetType() != proto.CriuReqDump || !r.GetSuccess() {
		t.Fatalf("the runtime got %v, want the dump's success", r)
	}
	took := time.Since(start)
	h.finish()
	if s := h.proxyStderr(); !strings.Contains(s, "post-dump: the check after the freeze did not return 50ms after the proxy's budget for post-dump's check after the freeze (50ms) is spent") {
		t.Errorf("no line about the stuck check:\n%s", s)
	}
	if _, err := os.Lstat(filepath.Join(h.dir, manifest.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stuck check wrote a manifest (%v)", err)
	}
	t.Logf("the runtime had the dump's answer %v after the request (budget 50ms, grace 50ms)", took)
}

// A post-dump the proxy gave up on (still running a grace after its
// budget: the proxy answered CRIU without it, CRIU resumed the tasks) may
// still hand its check over later. Its observation is then not of frozen
// tasks, and the proxy said the images are CRIU's own or a complete
// repair: the handed-over check must be dropped, never run.
func TestLateCheckHandedOverAfterTheProxyGaveUpIsDropped(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts, env: []string{envHookLateHandover + "=1", envProxyBudget + "=50ms", envFakeRespDelay + "=1s"}})
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, false)))
	r := decodeResp(t, h.recv().data)
	if r.GetType() != proto.CriuReqDump || !r.GetSuccess() {
		t.Fatalf("the runtime got %v, want the dump's success", r)
	}
	h.finish()
	stderr := h.proxyStderr()
	if !strings.Contains(stderr, "post-dump: the hook did not return 50ms after") {
		t.Fatalf("the proxy did not give up on post-dump:\n%s", stderr)
	}
	_, recs := h.fakeRecords()
	for _, r := range recs {
		if r.what == deferredWriteRecord {
			t.Error("the check a post-dump handed over after the proxy answered CRIU without it ran (and wrote)")
		}
	}
	if _, err := os.Lstat(filepath.Join(h.dir, manifest.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the late handover wrote a manifest (%v)", err)
	}
	if !strings.Contains(stderr, "handed over after the proxy answered CRIU without it: dropped") {
		t.Errorf("the proxy did not say it dropped the late handover:\n%s", stderr)
	}
}

// SIGTERM to the proxy (the runtime giving up) during the check after the
// freeze stops that check as it stops the hook: its context ends at once,
// not at the budget's end.
func TestSIGTERMStopsTheLateCheck(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts, env: []string{envLateWaitCtx + "=1", envProxyBudget + "=20s"}})
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, false)))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readFile(t, h.fakeLog), lateStartedRecord) {
		if time.Now().After(deadline) {
			t.Fatal("the late check did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sent := time.Now()
	if err := h.cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(readFile(t, h.fakeLog), lateStoppedRecord) {
		if time.Since(sent) > 5*time.Second {
			t.Fatalf("the late check's context did not end 5 s after SIGTERM to the proxy (budget 20 s); fake CRIU log:\n%s", readFile(t, h.fakeLog))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the late check's context ended %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	if log := readFile(t, h.fakeLog); !strings.Contains(log, lateStoppedRecord+` "test proxy: terminated"`) {
		t.Errorf("the late check did not stop for the signal:\n%s", log)
	}
	h.finish()
	if _, err := os.Lstat(filepath.Join(h.dir, manifest.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stopped check wrote a manifest (%v)", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// Real CRIU (swrk without keep_open) exits right after its dump response,
// while the proxy still runs the check after the freeze. A check longer
// than the proxy's drain time (but within its budget) must still end in
// the dump's answer reaching the runtime: the proxy holds that answer, so
// CRIU's exit is no reason to close the runtime's socket.
func TestLongLateCheckAfterCRIUExitedStillAnswers(t *testing.T) {
	late := drainTime + 500*time.Millisecond
	h := startProxy(t, setup{scripts: threeScripts, env: []string{envFakeOneDump + "=1", envLateSleep + "=" + late.String(), envProxyBudget + "=20s"}})
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, false)))
	r := decodeResp(t, h.recv().data)
	if r.GetType() != proto.CriuReqDump || !r.GetSuccess() {
		t.Fatalf("the runtime got %v, want the dump's success", r)
	}
	if code := h.finish(); code != 0 {
		t.Errorf("the proxy exited %d, want CRIU's 0", code)
	}
	if _, err := os.Stat(filepath.Join(h.dir, manifest.FileName)); err != nil {
		t.Errorf("the late check (%v) wrote no manifest: %v", late, err)
	}
}
