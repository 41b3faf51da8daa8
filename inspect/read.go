package inspect

import (
	"bytes"
	"errors"
	"io"
	"io/fs"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/proto"
	gproto "google.golang.org/protobuf/proto"
)

// readImage reads one image of the set with read; a missing image gives
// (nil, false, nil).
func readImage[M any](imgs checkpoint.Images, name string, read func(io.Reader, string, ...proto.ReadOption) ([]M, error)) ([]M, bool, error) {
	b, err := imgs.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ms, err := read(bytes.NewReader(b), name, proto.MaxEntrySize(entryCap(len(b))))
	if err != nil {
		return nil, true, err
	}
	return ms, true, nil
}

// entryCap is proto.DefaultMaxEntrySize, or n when smaller: no entry is
// larger than its file, so a forged size field allocates nothing.
func entryCap(n int) uint32 { return uint32(min(n, proto.DefaultMaxEntrySize)) }

// decodeImage reads name as an image of kind and decodes every entry with
// newMsg: for kinds proto has no typed reader for (remap-fpath.img).
func decodeImage[M gproto.Message](imgs checkpoint.Images, name string, kind proto.Kind, newMsg func() M) ([]M, bool, error) {
	return readImage(imgs, name, func(r io.Reader, n string, opts ...proto.ReadOption) ([]M, error) {
		img, err := proto.ReadImage(r, n, append(opts, proto.WantKind(kind))...)
		if err != nil {
			return nil, err
		}
		out := make([]M, len(img.Entries))
		for i := range img.Entries {
			m := newMsg()
			if err := img.Decode(i, m); err != nil {
				return nil, err
			}
			out[i] = m
		}
		return out, nil
	})
}
