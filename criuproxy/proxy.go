package criuproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ovlfix/ovlfix/hook"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
	gproto "google.golang.org/protobuf/proto"
)

// LogPrefix starts every line the proxy itself writes.
const LogPrefix = "ovlfix-criu: "

// drainTime bounds how long the proxy keeps relaying CRIU's last packets
// to the runtime after CRIU exited (they are already queued; only a CRIU
// child still holding CRIU's socket keeps it open longer).
const drainTime = 2 * time.Second

// Options configure Run.
type Options struct {
	// Real is the real CRIU's path (FindReal).
	Real string
	// SocketFD is the runtime's end of its socketpair (`swrk FD`).
	SocketFD int
	// Hook runs at pre-dump and post-dump; nil: hook.Run.
	Hook HookFunc
	// HookOptions are passed to Hook (WatchBudget, TreeTime, Log); the
	// proxy sets WorkDir (CRIU's cwd) and adds CRIU's log file to Log.
	HookOptions hook.Options
	// Budget bounds one hook action; 0: its TreeTime (default
	// hook.DefaultTreeTime) plus a second.
	Budget time.Duration
	// Grace is how long a hook past its budget is waited for; 0: DefaultGrace.
	Grace time.Duration
	// Log receives the proxy's own lines (stderr).
	Log io.Writer
	// Signals, when set, are the proxy's SIGINT and SIGTERM (signal.Notify):
	// each one cancels Run's context (the hook and the check after the
	// freeze stop) with SignalCause's error as the cause, and is passed on
	// to the real CRIU.
	Signals <-chan os.Signal
	// SignalCause is the cancel cause for a signal (nil: "received <sig>").
	SignalCause func(os.Signal) error
}

type proxy struct {
	opts    Options
	peer    peer
	rt      int // the runtime's socket
	criu    int // the proxy's end of CRIU's socket
	criuPID int

	mu      sync.Mutex
	cur     request      // the runtime's current request
	pending *pendingWork // post-dump's work after the freeze (hook.Options.DeferCheck, DeferManifest)
	// finishing is open while finishPending runs that work, which holds
	// CRIU's dump response (bounded by its budget and grace).
	finishing chan struct{}
	log       sync.Mutex
}

func (p *proxy) logf(format string, args ...any) {
	if p.opts.Log == nil {
		return
	}
	p.log.Lock()
	defer p.log.Unlock()
	fmt.Fprintf(p.opts.Log, LogPrefix+format+"\n", args...)
}

// Run relays between the runtime's socket and a real `criu swrk` it
// starts, until CRIU exits, and returns CRIU's wait status. An error means
// CRIU could not be started (the runtime then sees its socket closed).
func Run(ctx context.Context, opts Options) (syscall.WaitStatus, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := &proxy{opts: opts, rt: opts.SocketFD}
	var err error
	if p.peer, err = socketPeer(p.rt); err != nil {
		return 0, err
	}
	defer p.peer.close()
	inherited, err := inheritedFDs(p.rt)
	if err != nil {
		return 0, err
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socketpair: %w", err)
	}
	p.criu = pair[0]
	defer unix.Close(p.criu)
	if _, err := unix.FcntlInt(uintptr(p.rt), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		unix.Close(pair[1])
		return 0, fmt.Errorf("the runtime's socket, fd %d: %w", p.rt, err)
	}
	proc, err := startCRIU(opts.Real, p.rt, pair[1], inherited)
	unix.Close(pair[1])
	if err != nil {
		return 0, err
	}
	p.criuPID = proc.Pid
	exited := make(chan struct{})
	go p.forwardSignals(proc, exited, cancel)
	go p.fromRuntime(ctx)
	drained := make(chan struct{})
	go func() { p.fromCRIU(ctx); close(drained) }()
	state, werr := proc.Wait()
	close(exited)
	if werr != nil {
		return 0, fmt.Errorf("waiting for CRIU (pid %d): %w", p.criuPID, werr)
	}
	p.awaitDrain(drained)
	return state.Sys().(syscall.WaitStatus), nil
}

// awaitDrain waits, once CRIU has exited, for fromCRIU to relay CRIU's
// last packets (drained), at most drainTime, and then shuts the runtime's
// socket. The time post-dump's work after the freeze takes does not count:
// CRIU exits right after its dump response (swrk without keep_open), which
// the proxy holds until that work is done (finishPending, bounded by its
// budget and grace), and the runtime must still get it.
func (p *proxy) awaitDrain(drained <-chan struct{}) {
	timer := time.NewTimer(drainTime)
	defer timer.Stop()
	for {
		select {
		case <-drained:
			return
		case <-timer.C:
			p.mu.Lock()
			finishing := p.finishing
			p.mu.Unlock()
			if finishing != nil {
				<-finishing
				timer.Reset(drainTime)
				continue
			}
			p.logf("CRIU exited but its socket is still open (held by a child of CRIU?): closing the runtime's")
			_ = unix.Shutdown(p.rt, unix.SHUT_WR)
			return
		}
	}
}

func (p *proxy) forwardSignals(proc *os.Process, exited <-chan struct{}, cancel context.CancelCauseFunc) {
	for {
		select {
		case <-exited:
			return
		case sig, ok := <-p.opts.Signals:
			if !ok {
				return
			}
			var cause error
			if p.opts.SignalCause != nil {
				cause = p.opts.SignalCause(sig)
			}
			if cause == nil {
				cause = fmt.Errorf("received %v", sig)
			}
			cancel(cause)
			p.logf("%v: passed on to CRIU (pid %d)", sig, proc.Pid)
			_ = proc.Signal(sig)
		}
	}
}

// fromRuntime relays the runtime's packets to CRIU; at the runtime's
// EOF it shuts CRIU's socket for writing, so CRIU sees its client gone.
func (p *proxy) fromRuntime(ctx context.Context) {
	defer unix.Shutdown(p.criu, unix.SHUT_WR)
	for {
		pk, err := recvPacket(p.rt)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.logf("reading the runtime's socket: %s", quote.Error(err))
			}
			return
		}
		data, req, isReq, notes := prepareRequest(pk.data, p.peer)
		for _, n := range notes {
			p.logf("%s", quote.String(n))
		}
		if isReq {
			p.mu.Lock()
			p.cur = req
			p.mu.Unlock()
		}
		pk.data = data
		if err := sendPacket(p.criu, pk); err != nil {
			p.logf("to CRIU: %s", quote.Error(err))
			return
		}
	}
}

// fromCRIU relays CRIU's packets to the runtime, runs the hook at the
// notifications it acts on and answers the notifications the runtime did
// not ask for. At CRIU's EOF it shuts the runtime's socket for writing.
func (p *proxy) fromCRIU(ctx context.Context) {
	defer unix.Shutdown(p.rt, unix.SHUT_WR)
	defer p.finishPending(ctx, false) // CRIU gone without a dump response
	for {
		pk, err := recvPacket(p.criu)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.logf("reading CRIU's socket: %s", quote.Error(err))
			}
			return
		}
		if err := p.handleFromCRIU(ctx, pk); err != nil {
			p.logf("%s", quote.Error(err))
			return
		}
	}
}

func (p *proxy) handleFromCRIU(ctx context.Context, pk packet) error {
	var resp proto.CriuResp
	if err := unmarshalReq.Unmarshal(pk.data, &resp); err != nil || resp.GetType() != proto.CriuReqNotify {
		p.finishPending(ctx, err == nil && resp.GetType() == proto.CriuReqDump && resp.GetSuccess())
		return p.toRuntime(pk)
	}
	p.mu.Lock()
	req := p.cur
	p.mu.Unlock()
	script := resp.GetNotify().GetScript()
	ok := true
	if req.typ == proto.CriuReqDump && (script == hook.ActionPreDump || script == hook.ActionPostDump) {
		ok = p.runHook(ctx, script, req)
	}
	if ok && req.runtimeNotify {
		return p.toRuntime(pk)
	}
	pk.closeFDs()
	if !ok && req.runtimeNotify {
		p.logf("%s: not passed on to the runtime: the dump fails", quote.String(script))
	}
	return p.answerCRIU(ok)
}

// pendingWork is post-dump's work left for after the freeze: what it is
// (for the log) and the work, run with run false when the dump failed.
type pendingWork struct {
	what string
	work func(ctx context.Context, run bool)
}

// setPending keeps post-dump's deferred work until CRIU's dump response,
// unless *gaveUp (read under p.mu, which runHook sets it under): the proxy
// answered CRIU without the hook that hands the work over, so CRIU may
// have let the tasks go before the hook observed them, and the proxy said
// the images are as the hook left them then. Such work is dropped at once
// (run false: it only releases what it holds) and setPending says so.
func (p *proxy) setPending(what string, gaveUp *bool, work func(ctx context.Context, run bool)) {
	p.mu.Lock()
	late := *gaveUp
	if !late {
		p.pending = &pendingWork{what, work}
	}
	p.mu.Unlock()
	if late {
		work(context.Background(), false)
		p.logf("post-dump: the %s after the freeze was handed over after the proxy answered CRIU without it: dropped", what)
	}
}

// finishPending runs post-dump's deferred work when CRIU answered the
// dump with success (dumped: the tasks are unfrozen or killed, the images
// complete), before that answer reaches the runtime, which packs the
// images once it has it; any other answer, or none (CRIU's EOF), drops
// it (the work only releases what it holds): a failed dump is not
// checked and gets no manifest. The work has the hook's budget, and is
// left behind (with its context cancelled, so it writes nothing more)
// when it has not returned a grace after it: the runtime is never kept
// waiting longer. ctx is the proxy's: a signal to the proxy stops the
// work as it stops the hook.
func (p *proxy) finishPending(ctx context.Context, dumped bool) {
	p.mu.Lock()
	pw := p.pending
	p.pending = nil
	if pw != nil {
		finishing := make(chan struct{})
		p.finishing = finishing
		defer func() {
			p.mu.Lock()
			p.finishing = nil
			p.mu.Unlock()
			close(finishing)
		}()
	}
	p.mu.Unlock()
	if pw == nil {
		return
	}
	budget, grace := p.bounds()
	ctx, cancel := context.WithTimeoutCause(ctx, budget, fmt.Errorf("the proxy's budget for post-dump's %s after the freeze (%v) is spent", pw.what, budget))
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.work(ctx, dumped)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(grace):
			p.logf("post-dump: the %s after the freeze did not return %v after %v: the dump's answer goes on without it; %s", pw.what, grace, context.Cause(ctx), hook.LeftIfStopped(hook.ActionPostDump))
			return
		}
	}
	if !dumped {
		p.logf("post-dump: the dump did not succeed: the %s after the freeze was dropped", pw.what)
		return
	}
	p.logf("post-dump: %s after the freeze done in %v", pw.what, time.Since(start).Round(time.Microsecond))
}

func (p *proxy) toRuntime(pk packet) error {
	if err := sendPacket(p.rt, pk); err != nil {
		return fmt.Errorf("to the runtime: %w", err)
	}
	return nil
}

// answerCRIU answers a notification on the runtime's behalf.
func (p *proxy) answerCRIU(success bool) error {
	t := proto.CriuReqNotify
	b, err := marshalReq.Marshal(&proto.CriuReq{Type: &t, NotifySuccess: gproto.Bool(success)})
	if err != nil {
		return fmt.Errorf("encoding a notify answer: %w", err)
	}
	if err := sendPacket(p.criu, packet{data: b}); err != nil {
		return fmt.Errorf("answering CRIU: %w", err)
	}
	return nil
}
