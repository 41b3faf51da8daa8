package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is a running scenario child.
type Child struct {
	*Manifest
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	base   string
	// removeAll: the layers were on the host (Spec.HostLayers) and must go.
	removeAll bool
	done      chan error
	exit      sync.Once
	exitErr   error
}

// Start re-executes this program as the scenario child in a new mount
// namespace (and a new user namespace when spec.UserNS), waits until it
// holds everything and returns its manifest. Stop must be called.
func Start(ctx context.Context, spec Spec) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return StartWith(ctx, exe, spec)
}

// StartWith is Start with another executable as the child; it must call
// MaybeRunChild first thing.
func StartWith(ctx context.Context, exe string, spec Spec) (*Child, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envSpec+"=1")
	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL, // never outlive the parent
	}
	if spec.UserNS {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	c := &Child{cmd: cmd, stderr: &bytes.Buffer{}, base: spec.Base, removeAll: spec.HostLayers, done: make(chan error, 1)}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start scenario child: %w", err)
	}
	go func() { c.done <- cmd.Wait() }()
	if _, err := c.stdin.Write(append(raw, '\n')); err != nil {
		c.Stop()
		return nil, fmt.Errorf("send spec to scenario child: %w", err)
	}
	m, err := readManifest(stdout)
	if err != nil {
		c.Stop()
		msg := strings.TrimSpace(c.stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("scenario child failed: %s", msg)
	}
	c.Manifest = m
	return c, nil
}

// Exit tells the child to exit (its mounts vanish with its namespace,
// unless something else holds it) and waits for it, killing it if it does
// not exit within two seconds. It leaves the base dir to Stop, so a test
// can check what outlives the child's tasks. Later calls return the first
// one's result.
func (c *Child) Exit() error {
	c.exit.Do(func() {
		c.stdin.Close()
		select {
		case c.exitErr = <-c.done:
		case <-time.After(2 * time.Second):
			_ = c.cmd.Process.Kill()
			c.exitErr = <-c.done
		}
	})
	return c.exitErr
}

// Stop ends the child (Exit) and removes the base dir.
func (c *Child) Stop() error {
	err := c.Exit()
	remove := os.Remove
	if c.removeAll {
		remove = os.RemoveAll
	}
	if rerr := remove(c.base); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", c.base, rerr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() != 0 {
		return fmt.Errorf("scenario child: %v: %s", err, strings.TrimSpace(c.stderr.String()))
	}
	return nil
}
