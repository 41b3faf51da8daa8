package criuproxy

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
	gproto "google.golang.org/protobuf/proto"
)

// imagesFDAt is where the fake runtime keeps its images directory fd: a
// number the proxy has free, unless the test puts an inherited fd there.
const imagesFDAt = 200

// harness is a fake runtime: it starts the proxy (this test binary, role
// envTestProxy) as runc starts CRIU — a SOCK_SEQPACKET socketpair, the
// proxy's end at fd 3, an extra inherited pipe at fd 4 — and holds the
// images directory open at a number of its own (imagesFDAt), which CRIU
// resolves through SO_PEERCRED as runc's images_dir_fd.
type harness struct {
	t        *testing.T
	rt       int
	cmd      *exec.Cmd
	dir      string
	imagesFD int
	inherit  *os.File
	fakeLog  string
	hookLog  string
	stderr   string
	waited   bool
}

type setup struct {
	collide bool     // the proxy inherits another file at imagesFDAt
	inherit bool     // the proxy inherits the images directory itself at imagesFDAt
	scripts string   // the fake CRIU's notifications of a dump
	env     []string // more environment for the proxy and the fake CRIU
}

func startProxy(t *testing.T, s setup) *harness {
	t.Helper()
	tmp := t.TempDir()
	h := &harness{t: t, dir: filepath.Join(tmp, "images"), fakeLog: filepath.Join(tmp, "fake.log"), hookLog: filepath.Join(tmp, "hook.log"), stderr: filepath.Join(tmp, "proxy.stderr")}
	if err := os.Mkdir(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "marker"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(h.dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.imagesFD, err = unix.FcntlInt(uintptr(dfd), unix.F_DUPFD_CLOEXEC, imagesFDAt)
	unix.Close(dfd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(h.imagesFD) })
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.rt = pair[0]
	proxyEnd := os.NewFile(uintptr(pair[1]), "proxy-end")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	h.inherit = r
	t.Cleanup(func() { r.Close() })
	extra := []*os.File{proxyEnd, w}
	if s.inherit {
		dir := os.NewFile(uintptr(h.imagesFD), "images")
		for len(extra) < h.imagesFD-3 {
			extra = append(extra, nil)
		}
		extra = append(extra, dir) // the same open file at the same number
	}
	if s.collide {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer devnull.Close()
		for len(extra) < h.imagesFD-3 {
			extra = append(extra, nil)
		}
		extra = append(extra, devnull) // the proxy's fd imagesFD is /dev/null
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(h.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	h.cmd = exec.Command(self)
	h.cmd.Env = append(os.Environ(), envTestProxy+"=3", envFakeLog+"="+h.fakeLog, envHookLog+"="+h.hookLog,
		envFakeInherit+"=4", envFakeExit+"=7", envFakeScripts+"="+s.scripts)
	h.cmd.Env = append(h.cmd.Env, s.env...)
	h.cmd.ExtraFiles = extra
	h.cmd.Stderr = errf
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proxyEnd.Close()
	w.Close()
	t.Cleanup(func() {
		unix.Close(h.rt)
		if !h.waited {
			h.cmd.Process.Kill()
			h.cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(h.stderr)
			t.Logf("proxy stderr:\n%s", b)
			b, _ = os.ReadFile(h.fakeLog)
			t.Logf("fake CRIU log:\n%s", b)
		}
	})
	return h
}

func (h *harness) send(b []byte) {
	h.t.Helper()
	if err := sendPacket(h.rt, packet{data: b}); err != nil {
		h.t.Fatal(err)
	}
}

// recv reads one packet from the proxy, failing the test after 20 s.
func (h *harness) recv() packet {
	h.t.Helper()
	tv := unix.Timeval{Sec: 20}
	if err := unix.SetsockoptTimeval(h.rt, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		h.t.Fatal(err)
	}
	pk, err := recvPacket(h.rt)
	if err != nil {
		h.t.Fatalf("reading from the proxy: %v", err)
	}
	return pk
}

// finish closes the runtime's socket and returns the proxy's exit code.
func (h *harness) finish() int {
	h.t.Helper()
	unix.Close(h.rt)
	h.rt = -1
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		h.t.Fatal("the proxy did not exit 20 s after the runtime closed its socket")
	}
	h.waited = true
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return 0
}

type fakeRecord struct {
	what string // got, sent
	data []byte
	fds  int
}

// fakeRecords reads the fake CRIU's log: its pid and its packets.
func (h *harness) fakeRecords() (pid int, recs []fakeRecord) {
	h.t.Helper()
	f, err := os.Open(h.fakeLog)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 2 && fs[0] == "pid":
			pid, _ = strconv.Atoi(fs[1])
		case len(fs) == 1 && fs[0] == deferredWriteRecord:
			recs = append(recs, fakeRecord{what: fs[0]})
		case len(fs) == 3 && (fs[0] == "got" || fs[0] == "sent"):
			b, err := hex.DecodeString(fs[1])
			if err != nil {
				h.t.Fatal(err)
			}
			n, _ := strconv.Atoi(fs[2])
			recs = append(recs, fakeRecord{fs[0], b, n})
		}
	}
	return pid, recs
}

func (h *harness) hookCalls() []hookCall {
	h.t.Helper()
	b, err := os.ReadFile(h.hookLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var calls []hookCall
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var c hookCall
		if err := json.Unmarshal(line, &c); err != nil {
			h.t.Fatalf("hook log line %q: %v", line, err)
		}
		calls = append(calls, c)
	}
	return calls
}

func (h *harness) proxyStderr() string {
	b, _ := os.ReadFile(h.stderr)
	return string(b)
}

// readInherited reads what the fake CRIU wrote to the inherited fd 4.
func (h *harness) readInherited() string {
	h.t.Helper()
	h.inherit.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, len("inherited"))
	if _, err := io.ReadFull(h.inherit, buf); err != nil {
		h.t.Fatalf("the fd inherited by the proxy at 4 did not reach CRIU: %v", err)
	}
	return string(buf)
}

// encodeRequest encodes a CriuReq with an unknown field in it and in its opts.
func encodeRequest(t *testing.T, typ proto.CriuReqType, opts *proto.CriuOpts) []byte {
	t.Helper()
	req := &proto.CriuReq{Type: &typ}
	if opts != nil {
		ob, err := gproto.Marshal(opts)
		if err != nil {
			t.Fatal(err)
		}
		var withU proto.CriuOpts
		if err := gproto.Unmarshal(withUnknown(ob, "opts-future"), &withU); err != nil {
			t.Fatal(err)
		}
		req.Opts = &withU
	}
	b, err := gproto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return withUnknown(b, "req-future")
}

func notifyAnswer(t *testing.T) []byte {
	t.Helper()
	typ := proto.CriuReqNotify
	b, err := gproto.Marshal(&proto.CriuReq{Type: &typ, NotifySuccess: gproto.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return withUnknown(b, "answer-future")
}

func decodeResp(t *testing.T, b []byte) *proto.CriuResp {
	t.Helper()
	var r proto.CriuResp
	if err := gproto.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}
