package hook

import (
	"context"
	"os"
	"strconv"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/quote"
	"golang.org/x/sys/unix"
)

// LateCheck is post-dump's check after the freeze (Options.DeferCheck):
// the caller runs it once CRIU has finished the dump, with run true and a
// context that bounds it, or with run false when the dump failed or the
// observation cannot be trusted to be of the frozen tasks (the caller
// answered CRIU before post-dump handed it over); it then only releases
// what it holds. It logs its own outcome; it never fails
// the dump (the tasks are already let go).
type LateCheck func(ctx context.Context, run bool)

// postDumpLate observes the frozen tree (fixup.Observe: images, the scan
// and a capture of every task) and hands the rest of the check to handTo,
// unless the observation must be finished during the freeze
// (Observed.FrozenOnly: a mount id in no mountinfo, which can make the dump
// unrepairable). done is false when it did nothing (the directory cannot
// be held: the caller checks during the freeze); otherwise rep and err are
// the in-freeze check's (both nil when the check was handed over), as
// fixup.Run's.
//
// The images directory is held open (CRIU's fd on it, imageDir, may be
// closed by then), and the check reads and writes through the held fd; an
// earlier dump's manifest is removed now, so a dump whose check never
// comes has none.
func postDumpLate(ctx context.Context, imageDir string, fopts fixup.Options, handTo func(LateCheck), log *Logger) (rep *fixup.Report, err error, done bool) {
	d, err := os.OpenFile(imageDir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		log.Printf("post-dump: the images directory cannot be held for a check after the freeze (checked now): %s", quote.Error(err))
		return nil, nil, false
	}
	held := "/proc/self/fd/" + strconv.Itoa(int(d.Fd()))
	log.hideDir(held, ImageDirLabel)
	fopts.ImagesDirName = imageDir
	obs, err := fixup.Observe(ctx, held, fopts)
	if err != nil {
		d.Close()
		return nil, err, true
	}
	if why := obs.FrozenOnly(); why != "" {
		log.Printf("post-dump: checked during the freeze: %s", quote.String(why))
		rep, err := obs.Finish(ctx, false)
		obs.Close()
		d.Close()
		return rep, err, true
	}
	dropStaleManifest(held, false, log)
	log.Printf("post-dump: the tasks are captured; files.img is checked once CRIU has finished the dump")
	log.Flush()
	handTo(func(ctx context.Context, run bool) {
		defer d.Close()
		defer obs.Close()
		defer log.Flush()
		if !run {
			log.Printf("post-dump: the check after the freeze was dropped (the dump did not succeed, or the proxy answered CRIU without this post-dump): files.img not checked")
			return
		}
		rep, err := obs.Finish(ctx, true)
		log.Flush()
		finishLate(ctx, held, rep, err, log)
	})
	return nil, nil, true
}

// finishLate logs the late check's outcome and writes the manifest, as
// the in-freeze post-dump does; an unrepairable dump cannot be failed any
// more and is said to be so. Unlike the in-freeze post-dump it removes no
// manifest: an earlier dump's went when the check was handed over, so one
// there now was written during this dump by another post-dump (a config
// file's action script as well as the proxy: CRIU ≥ 3.19 sends the RPC
// notification, then runs the config file's scripts), for
// the files.img it left (its digest says which), and a stopped or failed
// check must not take it away.
func finishLate(ctx context.Context, dir string, rep *fixup.Report, err error, log *Logger) {
	if rep != nil {
		logReport(rep, log)
	}
	switch {
	case err == nil:
	case unrepairable(err):
		log.Printf("post-dump: after the freeze: %s; the tasks were already let go, so the dump stands as CRIU wrote it", quote.Error(err))
	case stopped(ctx, err):
		log.Printf("post-dump: %v: %s", context.Cause(ctx), filesImgState(rep))
	default:
		log.Printf("post-dump: cannot help, %s: %s", filesImgState(rep), quote.Error(err))
	}
	if rep != nil && ctx.Err() == nil {
		writeManifest(dir, rep, log)
	}
}
