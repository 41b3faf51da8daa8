package main

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
	"github.com/spf13/cobra"
)

// Interrupts (docs/cli.md § Interrupts). main owns SIGINT and SIGTERM: the
// first one cancels the command's context with an interrupted cause, so
// work that checks its context stops cleanly; a command that has not
// returned interruptGrace later (it is stuck in a system call no signal
// ends: an open of a FIFO, a stat on a hung FUSE or NFS file) is ended by
// os.Exit. Either way one line on stderr says which signal ended it and
// what it leaves behind, and the exit code is 130 (SIGINT) or 143
// (SIGTERM) — except for the hook, which exits 0: CRIU would fail the dump
// on any other code, and an interrupted hook leaves the images as whole
// files (CRIU's or ovlfix's complete repair), so the dump stands.
const interruptGrace = 300 * time.Millisecond

// stderrBudget bounds the write of the last line: a stderr that blocks
// (a full pipe nobody reads) must not keep the process alive.
const stderrBudget = 100 * time.Millisecond

// interrupted is the cause of a cancelled command context.
type interrupted struct{ sig syscall.Signal }

func (e interrupted) Error() string { return "interrupted by " + signalName(e.sig) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return fmt.Sprintf("signal %d", int(s))
}

// signalExitCode is the shell's 128+n for the signal that ended a command.
func signalExitCode(s syscall.Signal) int {
	switch s {
	case syscall.SIGINT:
		return exitInterrupted
	case syscall.SIGTERM:
		return exitTerminated
	}
	return 128 + int(s)
}

// stopState is what the running command tells main for the case it is
// interrupted: what it leaves behind right now, whether it is the hook,
// and what must be undone before a forced exit. Safe for concurrent use:
// the command updates it while main may read it.
type stopState struct {
	mu       sync.Mutex
	left     string
	hook     bool
	next     int
	cleanups map[int]func()
}

func newStopState(hook bool) *stopState {
	return &stopState{left: "nothing was written", hook: hook, cleanups: map[int]func(){}}
}

type stopStateKey struct{}

// stopStateOf returns the command's stopState; a detached one when ctx
// carries none (a command run directly by a test).
func stopStateOf(ctx context.Context) *stopState {
	if ctx != nil {
		if s, ok := ctx.Value(stopStateKey{}).(*stopState); ok {
			return s
		}
	}
	return newStopState(false)
}

// leave records what the command leaves behind if it is interrupted now.
func (s *stopState) leave(format string, args ...any) {
	s.mu.Lock()
	s.left = fmt.Sprintf(format, args...)
	s.mu.Unlock()
}

// atForcedExit registers f to run before a forced exit (it must not block:
// kill our own children, remove our own temporary directories); the
// returned func unregisters it.
func (s *stopState) atForcedExit(f func()) (unregister func()) {
	s.mu.Lock()
	id := s.next
	s.next++
	s.cleanups[id] = f
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.cleanups, id)
		s.mu.Unlock()
	}
}

func (s *stopState) snapshot() (left string, hook bool, cleanups []func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.cleanups {
		cleanups = append(cleanups, f)
	}
	return s.left, s.hook, cleanups
}

// execute runs root with a context main cancels on the first signal from
// sigs and returns the exit code; see interruptGrace.
func execute(root *cobra.Command, st *stopState, sigs <-chan os.Signal, grace time.Duration, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), stopStateKey{}, st))
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var sig os.Signal
	select {
	case err := <-done:
		return finish(err, stderr)
	case sig = <-sigs:
	}
	cause := interrupted{sig.(syscall.Signal)}
	cancel(cause)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-done:
		return returnedAfter(cause, st, err, stderr)
	case <-timer.C:
	case <-sigs: // a second signal: stop waiting
	}
	return forcedExit(cause, st, grace, stderr)
}

// finish prints a command's error (unless already logged) and maps it to
// its exit code.
func finish(err error, stderr io.Writer) int {
	if err != nil && !isLogged(err) {
		fmt.Fprintf(stderr, "ovlfix: %v\n", err)
	}
	return exitCode(err)
}

// returnedAfter handles a command that returned after a signal. The hook
// logged what it did itself and keeps its own exit code (0 unless it had
// already found the dump unrepairable: that verdict stands). Any other
// command exits with the signal's code and says what it leaves behind;
// an error that is not the cancellation itself is printed first.
func returnedAfter(cause interrupted, st *stopState, err error, stderr io.Writer) int {
	left, asHook, _ := st.snapshot()
	if asHook {
		return finish(err, stderr)
	}
	if err != nil && !isLogged(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, cause) {
		fmt.Fprintf(stderr, "ovlfix: %v\n", err)
	}
	fmt.Fprintf(stderr, "ovlfix: %v: %s\n", cause, left)
	return signalExitCode(cause.sig)
}

// forcedExit runs the registered cleanups and says what the stuck command
// leaves behind; the caller exits at once with the returned code.
func forcedExit(cause interrupted, st *stopState, grace time.Duration, stderr io.Writer) int {
	left, asHook, cleanups := st.snapshot()
	for _, f := range cleanups {
		f()
	}
	prefix, code := "ovlfix: ", signalExitCode(cause.sig)
	if asHook {
		prefix, code = hook.LogPrefix, exitOK
	}
	line := fmt.Sprintf("%s%v: stopped after %v in a call that did not return: %s\n", prefix, cause, grace, left)
	written := make(chan struct{})
	go func() {
		io.WriteString(stderr, line)
		close(written)
	}()
	select {
	case <-written:
	case <-time.After(stderrBudget):
	}
	return code
}
