package criuproxy

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protowire"
	gproto "google.golang.org/protobuf/proto"
)

// The fake CRIU: this test binary started by the proxy as `<bin> swrk FD`
// (TestMain). It speaks CRIU's swrk protocol as criu/cr-service.c does,
// and records every packet it receives and sends, hex-encoded, one per
// line ("got ..." / "sent ...") in $OVLFIX_FAKE_LOG, so that the tests can
// compare them with what the runtime side saw.
const (
	envFakeLog       = "OVLFIX_FAKE_LOG"
	envFakeExit      = "OVLFIX_FAKE_EXIT"       // exit code at EOF
	envFakeInherit   = "OVLFIX_FAKE_INHERIT"    // an fd number the fake writes "inherited" to
	envFakeScripts   = "OVLFIX_FAKE_SCRIPTS"    // notifications of a dump, comma-separated
	envFakeStall     = "OVLFIX_FAKE_STALL"      // "1": on DUMP, wait for a signal, exit 128+n
	envFakeFail      = "OVLFIX_FAKE_FAIL"       // "1": fail the dump after its notifications
	envFakeRespDelay = "OVLFIX_FAKE_RESP_DELAY" // a duration: wait that long before the dump's response
	envFakeOneDump   = "OVLFIX_FAKE_ONE_DUMP"   // "1": exit 0 after a dump, as cr_service_work does without keep_open
	fakeUnknownTag   = protowire.Number(4242)   // a field no CRIU version has
)

// withUnknown appends an unknown length-delimited field to an encoding.
func withUnknown(b []byte, what string) []byte {
	b = protowire.AppendTag(b, fakeUnknownTag, protowire.BytesType)
	return protowire.AppendBytes(b, []byte(what))
}

type fakeCRIU struct {
	sk  int
	log *os.File
}

func (f *fakeCRIU) record(what string, data []byte, fds int) {
	fmt.Fprintf(f.log, "%s %s %d\n", what, hex.EncodeToString(data), fds)
}

func (f *fakeCRIU) send(b []byte, fds ...int) {
	f.record("sent", b, len(fds))
	if err := sendPacket(f.sk, packet{data: b, fds: fds}); err != nil {
		fmt.Fprintf(os.Stderr, "fake criu: send: %v\n", err)
		os.Exit(90)
	}
}

func (f *fakeCRIU) recv() (packet, bool) {
	pk, err := recvPacket(f.sk)
	if err != nil {
		return pk, false
	}
	f.record("got", pk.data, len(pk.fds))
	return pk, true
}

func respBytes(r *proto.CriuResp, unknown string) []byte {
	b, err := gproto.Marshal(r)
	if err != nil {
		panic(err)
	}
	if unknown != "" {
		b = withUnknown(b, unknown)
	}
	return b
}

func runFakeCRIU(fdArg string) int {
	sk, err := strconv.Atoi(fdArg)
	if err != nil {
		return 91
	}
	log, err := os.OpenFile(os.Getenv(envFakeLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 92
	}
	f := &fakeCRIU{sk: sk, log: log}
	fmt.Fprintf(log, "pid %d\n", os.Getpid())
	if n, err := strconv.Atoi(os.Getenv(envFakeInherit)); err == nil {
		if _, err := unix.Write(n, []byte("inherited")); err != nil {
			fmt.Fprintf(log, "inherit-error %v\n", err)
		}
		unix.Close(n)
	}
	for {
		pk, ok := f.recv()
		if !ok {
			code, _ := strconv.Atoi(os.Getenv(envFakeExit))
			return code
		}
		var req proto.CriuReq
		if err := gproto.Unmarshal(pk.data, &req); err != nil {
			f.send(respBytes(&proto.CriuResp{Type: req.Type, Success: gproto.Bool(false), CrErrmsg: gproto.String("bad request")}, ""))
			continue
		}
		switch req.GetType() {
		case proto.CriuReqVersion:
			f.send(respBytes(&proto.CriuResp{Type: req.Type, Success: gproto.Bool(true)}, "version-future"))
		case proto.CriuReqDump, proto.CriuReqRestore:
			f.dump(&req)
			if os.Getenv(envFakeOneDump) == "1" {
				return 0
			}
		default:
			f.send(respBytes(&proto.CriuResp{Type: req.Type, Success: gproto.Bool(false), CrErrmsg: gproto.String("Invalid req")}, ""))
		}
	}
}

// dump does what CRIU's dump_using_req does with the socket: it opens the
// images directory as /proc/<peer>/fd/<images_dir_fd> (peer: SO_PEERCRED),
// makes it its cwd, and, with notify_scripts, sends each notification and
// waits for its answer.
func (f *fakeCRIU) dump(req *proto.CriuReq) {
	fail := func(msg string) {
		f.send(respBytes(&proto.CriuResp{Type: req.Type, Success: gproto.Bool(false), CrErrmsg: gproto.String(msg)}, ""))
	}
	cred, err := unix.GetsockoptUcred(f.sk, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		fail(err.Error())
		return
	}
	dir := fmt.Sprintf("/proc/%d/fd/%d", cred.Pid, req.GetOpts().GetImagesDirFd())
	dfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		fail("Can't open images directory " + dir + ": " + err.Error())
		return
	}
	if err := unix.Fchdir(dfd); err != nil {
		fail(err.Error())
		return
	}
	if name := req.GetOpts().GetLogFile(); name != "" { // CRIU's log, in its work dir
		lf, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
		if err != nil {
			fail(err.Error())
			return
		}
		fmt.Fprintf(lf, "fake criu log\n")
		defer lf.Close()
	}
	if _, err := os.Stat("marker"); err != nil {
		fail("images directory has no marker: " + err.Error())
		return
	}
	if os.Getenv(envFakeStall) == "1" {
		fmt.Fprintf(f.log, "stalling\n")
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
		s := <-sigs
		fmt.Fprintf(f.log, "signal %d\n", s)
		os.Exit(128 + int(s.(unix.Signal)))
	}
	if req.GetOpts().GetNotifyScripts() {
		for _, script := range strings.Split(os.Getenv(envFakeScripts), ",") {
			t := proto.CriuReqNotify
			resp := &proto.CriuResp{Type: &t, Success: gproto.Bool(true), Notify: &proto.CriuNotify{Script: gproto.String(script)}}
			var fds []int
			if script == "orphan-pts-master" {
				var p [2]int
				if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
					fail(err.Error())
					return
				}
				unix.Write(p[1], []byte("pts"))
				unix.Close(p[1])
				fds = []int{p[0]}
			}
			f.send(respBytes(resp, "notify-future-"+script), fds...)
			pk, ok := f.recv()
			if !ok {
				return
			}
			var ans proto.CriuReq
			if gproto.Unmarshal(pk.data, &ans) != nil || ans.GetType() != proto.CriuReqNotify || !ans.GetNotifySuccess() {
				fail("RPC client reported script error")
				return
			}
		}
	}
	if os.Getenv(envFakeFail) == "1" {
		fail("fake: the dump failed after post-dump")
		return
	}
	if d, err := time.ParseDuration(os.Getenv(envFakeRespDelay)); err == nil {
		time.Sleep(d)
	}
	f.send(respBytes(&proto.CriuResp{Type: req.Type, Success: gproto.Bool(true)}, "dump-future"))
}
