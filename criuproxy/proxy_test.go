package criuproxy

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
	gproto "google.golang.org/protobuf/proto"
)

const threeScripts = "pre-dump,orphan-pts-master,post-dump"

func dumpOpts(imagesFD int, notify bool) *proto.CriuOpts {
	o := &proto.CriuOpts{ImagesDirFd: gproto.Int32(int32(imagesFD)), Pid: gproto.Int32(int32(os.Getpid())), LogFile: gproto.String("dump.log")}
	if notify {
		o.NotifyScripts = gproto.Bool(true)
	}
	return o
}

// checkHookCalls asserts the hook ran at pre-dump and post-dump, in that
// order, with the dump's pid and CRIU's own fd on the images directory
// and CRIU's cwd as work dir.
func checkHookCalls(t *testing.T, h *harness, criuPID int, want ...string) {
	t.Helper()
	calls := h.hookCalls()
	if len(calls) != len(want) {
		t.Fatalf("hook calls %+v, want actions %v", calls, want)
	}
	prefix := "/proc/" + strconv.Itoa(criuPID) + "/fd/"
	for i, c := range calls {
		if c.Action != want[i] || c.InitPID != os.Getpid() || c.CRIUPID != criuPID || !strings.HasPrefix(c.ImageDir, prefix) ||
			c.WorkDir != "/proc/"+strconv.Itoa(criuPID)+"/cwd" || !c.Marker || !c.WorkMarker {
			t.Errorf("hook call %d: %+v; want action %s, pid %d, images dir %s<n> with the marker, work dir CRIU's cwd", i, c, want[i], os.Getpid(), prefix)
		}
	}
}

// A runtime that asks for notifications (runc): every packet both ways,
// SCM_RIGHTS fd included, reaches the other side byte for byte, unknown
// fields and all; the hook runs before pre-dump and post-dump are passed
// on; an inherited fd reaches CRIU at its number; the proxy exits with
// CRIU's status.
func TestRelayRuntimeAsksForNotifications(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts})
	var sent, received [][]byte
	vreq := encodeRequest(t, proto.CriuReqVersion, nil)
	var pp [2]int // an fd from the runtime to CRIU rides along too
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(pp[1])
	if err := sendPacket(h.rt, packet{data: vreq, fds: []int{pp[0]}}); err != nil {
		t.Fatal(err)
	}
	sent = append(sent, vreq)
	vresp := h.recv()
	received = append(received, vresp.data)
	dreq := encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, true))
	h.send(dreq)
	sent = append(sent, dreq)
	var scripts []string
	for {
		pk := h.recv()
		received = append(received, pk.data)
		r := decodeResp(t, pk.data)
		if r.GetType() != proto.CriuReqNotify {
			if !r.GetSuccess() {
				t.Fatalf("dump failed: %q", r.GetCrErrmsg())
			}
			break
		}
		scripts = append(scripts, r.GetNotify().GetScript())
		if r.GetNotify().GetScript() == "orphan-pts-master" {
			if len(pk.fds) != 1 {
				t.Fatalf("orphan-pts-master came with %d fds, want 1", len(pk.fds))
			}
			buf := make([]byte, 8)
			n, err := unix.Read(pk.fds[0], buf)
			if err != nil || string(buf[:n]) != "pts" {
				t.Errorf("the passed fd reads %q, %v; want the fake CRIU's pipe (\"pts\")", buf[:n], err)
			}
		} else if len(pk.fds) != 0 {
			t.Errorf("%s came with %d fds", r.GetNotify().GetScript(), len(pk.fds))
		}
		pk.closeFDs()
		ans := notifyAnswer(t)
		h.send(ans)
		sent = append(sent, ans)
	}
	if got := strings.Join(scripts, ","); got != threeScripts {
		t.Errorf("notifications passed on: %s, want %s", got, threeScripts)
	}
	if got := h.readInherited(); got != "inherited" {
		t.Errorf("inherited fd: %q", got)
	}
	if code := h.finish(); code != 7 {
		t.Errorf("the proxy exited %d, want the fake CRIU's 7", code)
	}
	pid, recs := h.fakeRecords()
	var got, sentByCRIU [][]byte
	fdsSent, fdsGot := 0, 0
	for _, r := range recs {
		if r.what == "got" {
			got = append(got, r.data)
			fdsGot += r.fds
		} else if r.what == "sent" {
			sentByCRIU = append(sentByCRIU, r.data)
			fdsSent += r.fds
		}
	}
	if !equalPackets(got, sent) {
		t.Errorf("CRIU got %d packets not byte-identical to the runtime's %d:\n got  %x\n sent %x", len(got), len(sent), got, sent)
	}
	if !equalPackets(received, sentByCRIU) {
		t.Errorf("the runtime got %d packets not byte-identical to CRIU's %d:\n got  %x\n sent %x", len(received), len(sentByCRIU), received, sentByCRIU)
	}
	if fdsSent != 1 || fdsGot != 1 {
		t.Errorf("the fake CRIU sent %d fds and got %d, want 1 each way", fdsSent, fdsGot)
	}
	checkHookCalls(t, h, pid, "pre-dump", "post-dump")
	if b, err := os.ReadFile(h.dir + "/dump.log"); err != nil || string(b) != "fake criu log\ntest hook line: pre-dump\ntest hook line: post-dump\n" {
		t.Errorf("CRIU's log (log_file in its work dir) is %q, %v; want CRIU's line and the hook's two", b, err)
	}
	t.Logf("%d packets each way byte-identical; hook calls %+v", len(sent), h.hookCalls())
}

func equalPackets(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// A runtime that does not ask for notifications, whose images directory
// fd number is another file in the proxy: the proxy asks CRIU for them
// (notify_scripts set, the fd number rewritten, unknown fields kept),
// answers each itself after running the hook, closes the passed fd, and
// the runtime sees only the dump's answer.
func TestProxyAnswersForARuntimeThatDidNotAsk(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts, collide: true})
	dreq := encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, false))
	h.send(dreq)
	pk := h.recv()
	r := decodeResp(t, pk.data)
	if r.GetType() != proto.CriuReqDump || !r.GetSuccess() {
		t.Fatalf("the runtime's first packet: %v, want the dump's success", r)
	}
	h.finish()
	pid, recs := h.fakeRecords()
	var got []fakeRecord
	for _, r := range recs {
		if r.what == "got" {
			got = append(got, r)
		}
	}
	if len(got) != 4 {
		t.Fatalf("CRIU got %d packets, want the request and 3 answers", len(got))
	}
	var fwd, orig proto.CriuReq
	if err := gproto.Unmarshal(got[0].data, &fwd); err != nil {
		t.Fatal(err)
	}
	if err := gproto.Unmarshal(dreq, &orig); err != nil {
		t.Fatal(err)
	}
	if !fwd.GetOpts().GetNotifyScripts() {
		t.Error("the proxy did not set notify_scripts")
	}
	if fwd.GetOpts().GetImagesDirFd() == int32(h.imagesFD) {
		t.Errorf("images_dir_fd %d kept although the proxy's fd %d is /dev/null", h.imagesFD, h.imagesFD)
	}
	if !bytes.Equal(fwd.ProtoReflect().GetUnknown(), orig.ProtoReflect().GetUnknown()) ||
		!bytes.Equal(fwd.GetOpts().ProtoReflect().GetUnknown(), orig.GetOpts().ProtoReflect().GetUnknown()) ||
		len(orig.GetOpts().ProtoReflect().GetUnknown()) == 0 {
		t.Errorf("unknown fields not kept: %x / %x", fwd.ProtoReflect().GetUnknown(), fwd.GetOpts().ProtoReflect().GetUnknown())
	}
	// Everything else is as the runtime sent it.
	fwd.Opts.NotifyScripts, fwd.Opts.ImagesDirFd = nil, orig.Opts.ImagesDirFd
	if !gproto.Equal(&fwd, &orig) {
		t.Errorf("the forwarded request differs in more than notify_scripts and images_dir_fd:\n%v\n%v", &fwd, &orig)
	}
	for _, a := range got[1:] {
		var ans proto.CriuReq
		if err := gproto.Unmarshal(a.data, &ans); err != nil || ans.GetType() != proto.CriuReqNotify || !ans.GetNotifySuccess() {
			t.Errorf("the proxy's answer %x: %v, want NOTIFY notify_success", a.data, &ans)
		}
	}
	checkHookCalls(t, h, pid, "pre-dump", "post-dump")
	if s := h.proxyStderr(); !strings.Contains(s, "images_dir_fd: the runtime's fd "+strconv.Itoa(h.imagesFD)+" is fd ") {
		t.Errorf("the proxy did not log the fd rewrite:\n%s", s)
	}
}

// An unrepairable dump (the hook's error at post-dump) fails the dump:
// CRIU gets notify_success = false and the runtime never sees post-dump.
func TestHookFailureFailsTheDump(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts, env: []string{envHookFail + "=post-dump"}})
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, true)))
	var scripts []string
	for {
		pk := h.recv()
		r := decodeResp(t, pk.data)
		pk.closeFDs()
		if r.GetType() != proto.CriuReqNotify {
			if r.GetSuccess() {
				t.Error("the dump succeeded although the hook failed it")
			}
			break
		}
		scripts = append(scripts, r.GetNotify().GetScript())
		h.send(notifyAnswer(t))
	}
	if got := strings.Join(scripts, ","); got != "pre-dump,orphan-pts-master" {
		t.Errorf("notifications passed on: %s, want pre-dump,orphan-pts-master", got)
	}
	h.finish()
	_, recs := h.fakeRecords()
	last := recs[len(recs)-2] // the answer to post-dump, before CRIU's failure
	var ans proto.CriuReq
	if err := gproto.Unmarshal(last.data, &ans); err != nil || last.what != "got" || ans.GetType() != proto.CriuReqNotify || ans.GetNotifySuccess() {
		t.Errorf("CRIU's last packet %s %x, want NOTIFY notify_success=false", last.what, last.data)
	}
}

// A hook stuck in a call no context ends is left behind after the budget
// and its grace: CRIU is answered and the dump goes on.
func TestStuckHookIsLeftBehind(t *testing.T) {
	h := startProxy(t, setup{scripts: threeScripts, env: []string{envHookStuck + "=pre-dump", envProxyBudget + "=50ms"}})
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, false)))
	r := decodeResp(t, h.recv().data)
	if r.GetType() != proto.CriuReqDump || !r.GetSuccess() {
		t.Fatalf("got %v, want the dump's success", r)
	}
	h.finish()
	if s := h.proxyStderr(); !strings.Contains(s, "pre-dump: the hook did not return 50ms after") {
		t.Errorf("no line about the stuck hook:\n%s", s)
	}
	if n := len(h.hookCalls()); n != 2 {
		t.Errorf("%d hook calls, want 2 (post-dump still runs)", n)
	}
}

// SIGTERM to the proxy reaches CRIU, and the proxy exits with CRIU's
// status (the fake exits 128+15).
func TestSignalReachesCRIU(t *testing.T) {
	h := startProxy(t, setup{env: []string{envFakeStall + "=1"}})
	h.send(encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, true)))
	waitFor(t, func() bool { b, _ := os.ReadFile(h.fakeLog); return bytes.Contains(b, []byte("stalling")) })
	if err := h.cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := h.finish(); code != 128+15 {
		t.Errorf("the proxy exited %d, want 143", code)
	}
}

// A restore whose runtime asks for notifications (runc needs post-restore
// to learn the restored pid and save its state): every notification goes
// to the runtime, the hook does not run.
func TestRestoreNotificationsReachTheRuntime(t *testing.T) {
	h := startProxy(t, setup{scripts: "setup-namespaces,post-restore"})
	h.send(encodeRequest(t, proto.CriuReqRestore, dumpOpts(h.imagesFD, true)))
	var scripts []string
	for {
		r := decodeResp(t, h.recv().data)
		if r.GetType() != proto.CriuReqNotify {
			if r.GetType() != proto.CriuReqRestore || !r.GetSuccess() {
				t.Fatalf("got %v, want the restore's success", r)
			}
			break
		}
		scripts = append(scripts, r.GetNotify().GetScript())
		h.send(notifyAnswer(t))
	}
	if got := strings.Join(scripts, ","); got != "setup-namespaces,post-restore" {
		t.Errorf("notifications passed on: %q, want setup-namespaces,post-restore", got)
	}
	h.finish()
	if calls := h.hookCalls(); len(calls) != 0 {
		t.Errorf("the hook ran at a restore: %+v", calls)
	}
}

// An images directory fd the runtime passed by inheritance, at the number
// it names: the proxy's fd is the same open file (kcmp), the request goes
// to CRIU byte for byte.
func TestInheritedImagesFDIsKept(t *testing.T) {
	h := startProxy(t, setup{inherit: true})
	dreq := encodeRequest(t, proto.CriuReqDump, dumpOpts(h.imagesFD, true))
	h.send(dreq)
	if r := decodeResp(t, h.recv().data); !r.GetSuccess() {
		t.Fatalf("dump failed: %q", r.GetCrErrmsg())
	}
	h.finish()
	_, recs := h.fakeRecords()
	if len(recs) == 0 || recs[0].what != "got" || !bytes.Equal(recs[0].data, dreq) {
		t.Errorf("CRIU did not get the request byte for byte: %+v", recs)
	}
	if s := h.proxyStderr(); strings.Contains(s, "images_dir_fd") {
		t.Errorf("the proxy renumbered an fd it holds at the same number:\n%s", s)
	}
}
