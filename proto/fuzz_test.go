package proto

import (
	"bytes"
	"testing"
)

// FuzzReadImage: ReadImage never panics, and whatever it accepts encodes back to exactly
// the input. Seeds are the real images, so `go test` runs it on them; use
// `go test -fuzz=FuzzReadImage ./proto` to explore.
func FuzzReadImage(f *testing.F) {
	for _, p := range realImages(f) {
		f.Add(readTestFile(f, p))
	}
	f.Add([]byte{})
	f.Add([]byte{0x19, 0x43, 0x56, 0x54})
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := ReadImage(bytes.NewReader(data), "fuzz.img", MaxEntrySize(1<<20))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := img.Encode(&out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("accepted input does not re-encode to itself")
		}
		// Decoding entries as the image's message type must not panic either.
		if newMessage(img.Kind()) != nil {
			for i := range img.Entries {
				_ = img.Decode(i, newMessage(img.Kind()))
			}
		}
	})
}
