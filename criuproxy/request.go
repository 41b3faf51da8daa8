package criuproxy

import (
	"fmt"

	"github.com/ovlfix/ovlfix/proto"
	gproto "google.golang.org/protobuf/proto"
)

// request is what the proxy keeps of the runtime's current request: what
// the notifications CRIU sends for it belong to.
type request struct {
	typ proto.CriuReqType
	// runtimeNotify: the runtime asked for notifications (notify_scripts);
	// if not, the proxy asked for them and answers them itself.
	runtimeNotify bool
	pid           int    // opts.pid: the root task of a dump
	imagesFD      int32  // images_dir_fd in the proxy's own table, or -1
	imagesDir     string // opts.images_dir, used by CRIU when imagesFD < 0
	logFile       string // opts.log_file, in CRIU's work dir
}

var (
	unmarshalReq = gproto.UnmarshalOptions{AllowPartial: true}
	marshalReq   = gproto.MarshalOptions{AllowPartial: true}
)

// prepareRequest looks at one packet from the runtime. A NOTIFY answer, a
// packet that does not parse, or a request the proxy need not change is
// returned as it came (same slice). A request is re-encoded only when
// (docs in doc.go) a peer-relative fd number must change, or a DUMP lacks
// notify_scripts or pid; unknown fields are kept. isRequest is false for
// NOTIFY answers and unparsable packets, which start no request. Notes say
// what was changed or could not be done, for the log.
func prepareRequest(data []byte, pr peer) (out []byte, req request, isRequest bool, notes []string) {
	var m proto.CriuReq
	if err := unmarshalReq.Unmarshal(data, &m); err != nil {
		return data, req, false, []string{fmt.Sprintf("a packet from the runtime does not parse as CriuReq (%v): relayed unchanged", err)}
	}
	if m.GetType() == proto.CriuReqNotify {
		return data, req, false, nil
	}
	req = request{typ: m.GetType(), imagesFD: -1}
	opts := m.GetOpts()
	if opts == nil {
		return data, req, true, nil
	}
	changed := false
	for _, f := range []struct {
		name string
		p    **int32
	}{{"images_dir_fd", &opts.ImagesDirFd}, {"work_dir_fd", &opts.WorkDirFd}, {"status_fd", &opts.StatusFd}, {"pidfd_store_sk", &opts.PidfdStoreSk}} {
		if *f.p == nil || **f.p < 0 {
			continue
		}
		n, err := pr.localize(**f.p)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s %d: %v: left as it is (CRIU will not find it)", f.name, **f.p, err))
			continue
		}
		if n != **f.p {
			notes = append(notes, fmt.Sprintf("%s: the runtime's fd %d is fd %d of the proxy", f.name, **f.p, n))
			*f.p = gproto.Int32(n)
			changed = true
		}
	}
	req.runtimeNotify = opts.GetNotifyScripts()
	if m.GetType() == proto.CriuReqDump {
		if !req.runtimeNotify {
			opts.NotifyScripts = gproto.Bool(true)
			changed = true
		}
		if opts.Pid == nil {
			opts.Pid = gproto.Int32(int32(pr.pid))
			notes = append(notes, fmt.Sprintf("a dump without pid (self-dump): pid set to the runtime's, %d", pr.pid))
			changed = true
		}
	}
	req.pid = int(opts.GetPid())
	req.imagesFD = opts.GetImagesDirFd()
	req.imagesDir = opts.GetImagesDir()
	req.logFile = opts.GetLogFile()
	if !changed {
		return data, req, true, notes
	}
	b, err := marshalReq.Marshal(&m)
	if err != nil {
		return data, req, true, append(notes, fmt.Sprintf("re-encoding the request failed (%v): relayed unchanged", err))
	}
	return b, req, true, notes
}
