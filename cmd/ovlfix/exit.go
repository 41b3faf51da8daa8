package main

import (
	"errors"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/proto"
)

// Exit codes (docs/cli.md). They are part of the interface: scripts and
// pipelines branch on them.
const (
	exitOK           = 0
	exitFailure      = 1 // anything not listed below
	exitUsage        = 2 // bad command line
	exitNoProcess    = 3 // no such pid
	exitPermission   = 4 // not allowed to read the process
	exitExited       = 5 // the process exited during the scan
	exitOutput       = 6 // the images directory cannot be written
	exitNoOverlay    = 7 // the kernel has no overlay filesystem
	exitUnresolved   = 8 // `dump --strict`: some object could not be resolved
	exitUnrepairable = 9 // `fixup`: the dump is wrong and cannot be repaired
	// exitBadImageFile: an image or cache file is not a regular file or
	// exceeds its size cap (a FIFO, a symlink, a device).
	exitBadImageFile = 10
	// exitNotRestorable: `verify` found files the restore will not
	// reopen (the report names each one and CRIU's message).
	exitNotRestorable = 11
	// exitRootUnusable: `verify --root DIR` cannot open DIR as a directory.
	exitRootUnusable = 12
	// exitBadArchive: `inspect`/`verify` refused the checkpoint archive:
	// not an archive, a member refused as unsafe, or a cap reached.
	exitBadArchive  = 13
	exitInterrupted = 130 // SIGINT (128+2), interrupt.go
	exitTerminated  = 143 // SIGTERM (128+15), interrupt.go
)

// codedError carries an exit code through cobra.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

func exitCode(err error) int {
	var ce *codedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, proto.ErrBadImageFile):
		return exitBadImageFile
	case errors.Is(err, checkpoint.ErrNotArchive), errors.Is(err, checkpoint.ErrUnsafe), errors.Is(err, checkpoint.ErrTooBig):
		return exitBadArchive
	case errors.Is(err, fdinfo.ErrNoProcess):
		return exitNoProcess
	case errors.Is(err, fdinfo.ErrPermission):
		return exitPermission
	case errors.Is(err, fdinfo.ErrExited):
		return exitExited
	case isUsage(err):
		return exitUsage
	}
	return exitFailure
}

// usageError marks command-line mistakes. It is the only way to exit 2:
// an error about the images, the target or the system is never usage.
type usageError struct{ error }

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}
