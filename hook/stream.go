package hook

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
)

// StreamerSocket is the socket `criu dump --stream` connects to in the
// images directory (IMG_STREAMER_CAPTURE_SOCKET_NAME, criu/img-streamer.c,
// CRIU 3.16+): criu-image-streamer listens on it, and every image goes
// through it instead of into the directory, files.img included.
//
// CRIU tells an action script nothing else about streaming: no
// environment variable, the same CRTOOLS_IMAGE_DIR. It runs the
// "pre-stream" action just before it connects (which the hook ignores), so
// by pre-dump and post-dump the socket is there.
const StreamerSocket = "streamer-capture.sock"

// streamState is what the images directory says about streaming.
type streamState int

const (
	// notStreamed: no StreamerSocket socket; the images are in the dir.
	notStreamed streamState = iota
	// streamed: a StreamerSocket socket and no files.img: CRIU sends the
	// images to the streamer (--stream).
	streamed
	// socketAndFilesImg: a StreamerSocket socket and a files.img. With
	// --stream CRIU writes no image into the directory, so one of the two
	// is left from an earlier dump; the hook cannot tell which, and takes
	// the dump as written into the directory (post-dump then checks
	// files.img against the frozen tree, which refuses another dump's
	// files.img: its root task is not this tree's).
	socketAndFilesImg
)

// streamStateOf looks in imageDir (CRTOOLS_IMAGE_DIR) for StreamerSocket
// and files.img, without following a symlink of either name and without
// connecting to the socket (the streamer serves one connection: CRIU's).
// An entry that cannot be stat'ed for another reason than its absence is
// an error.
func streamStateOf(imageDir string) (streamState, error) {
	fi, err := os.Lstat(filepath.Join(imageDir, StreamerSocket))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notStreamed, nil
	case err != nil:
		return notStreamed, fmt.Errorf("stat %s in the images dir: %w", StreamerSocket, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return notStreamed, nil // not CRIU's: a socket is the only thing it connects to
	}
	_, err = os.Lstat(filepath.Join(imageDir, proto.FilesImg))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return streamed, nil
	case err != nil:
		return notStreamed, fmt.Errorf("stat %s in the images dir: %w", proto.FilesImg, err)
	}
	return socketAndFilesImg, nil
}

// Log lines about streaming (docs/hook.md § Run twice, unused actions,
// --stream).
const (
	postDumpStreamedLine = "post-dump: images are streamed (criu --stream): nothing to check"
	preDumpStreamedLine  = "pre-dump: images are streamed (criu --stream): irmap-cache is still written to CRIU's work dir"
)

// streamedPostDump reports whether post-dump has nothing to do because
// the dump is streamed, logging why. A directory that cannot be looked at
// is logged and is not streamed: fixup then says what it cannot read.
func streamedPostDump(env Env, log *Logger) bool {
	st, err := streamStateOf(env.ImageDir)
	switch {
	case err != nil:
		log.Printf("post-dump: cannot tell whether the images are streamed: %s", quote.Error(err))
	case st == streamed:
		log.Printf("%s", postDumpStreamedLine)
		return true
	case st == socketAndFilesImg:
		log.Printf("post-dump: the images dir holds both %s and %s: one is left from an earlier dump; checking %s",
			StreamerSocket, proto.FilesImg, proto.FilesImg)
	}
	return false
}

// notePreDumpStream logs, at pre-dump, that the images are streamed. The
// seeding goes on, into CRIU's work dir as always. Whether CRIU reads it
// there under --stream is not proven here (no criu-image-streamer on the
// test hosts): criu/irmap.c opens it with open_image_at(AT_FDCWD, ...,
// O_RSTR) and no O_FORCE_LOCAL, which criu/image.c's do_open_image sends
// to the streamer when --stream is on.
func notePreDumpStream(env Env, log *Logger) {
	if env.ImageDir == "" {
		return
	}
	if st, err := streamStateOf(env.ImageDir); err == nil && st != notStreamed {
		log.Printf("%s", preDumpStreamedLine)
	}
}
