package proto

import (
	"bytes"
	"path/filepath"
	"testing"
)

// Every real image: decode→encode is byte-identical, and every entry decoded into its
// message type and marshalled again gives CRIU's bytes.
func TestRealImagesRoundTrip(t *testing.T) {
	for _, p := range realImages(t) {
		t.Run(p, func(t *testing.T) {
			orig := readTestFile(t, p)
			img, err := ReadImage(bytes.NewReader(orig), filepath.Base(p))
			if err != nil {
				t.Fatal(err)
			}
			if len(img.Entries) == 0 {
				t.Fatal("no entries")
			}
			var out bytes.Buffer
			if err := img.Encode(&out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), orig) {
				t.Fatalf("re-encoded image differs: %d bytes, want %d", out.Len(), len(orig))
			}
			kind := img.Kind()
			if newMessage(kind) == nil {
				t.Fatalf("no message type for kind %q", kind)
			}
			for i, e := range img.Entries {
				m := newMessage(kind)
				if err := img.Decode(i, m); err != nil {
					t.Fatal(err)
				}
				if u := m.ProtoReflect().GetUnknown(); len(u) != 0 {
					t.Errorf("entry %d: %d bytes of unknown fields: go-criu's protos miss a field CRIU 3.17 writes", i, len(u))
				}
				b, err := Marshal(m)
				if err != nil {
					t.Fatalf("entry %d: %v", i, err)
				}
				if !bytes.Equal(b, e) {
					t.Fatalf("entry %d (%s): re-marshalled\n%x\nwant\n%x", i, kind, b, e)
				}
			}
		})
	}
}

// The head magics of real images are what criu/include/magic.h says.
func TestRealImageMagics(t *testing.T) {
	for _, tc := range []struct {
		file          string
		kind          Kind
		common, magic uint32 // from criu/include/magic.h
	}{
		{"basic/files.img", KindFiles, 0x54564319, 0x56303138},
		{"basic/fdinfo-2.img", KindFdinfo, 0x54564319, 0x56213732},
		{"basic/mountpoints-9.img", KindMnts, 0x54564319, 0x55563928},
		{"basic/pstree.img", KindPstree, 0x54564319, 0x50273030},
		{"basic/ids-149.img", KindIds, 0x54564319, 0x54432030},
		{"basic/fs-149.img", KindFs, 0x54564319, 0x51403912},
		{"basic/mm-149.img", KindMm, 0x54564319, 0x57492820},
		{"basic/inventory.img", KindInventory, 0, 0x58313116},
		{"basic/stats-dump", KindStats, 0x55105940, 0x57093306},
		{"irmap/irmap-cache", KindIrmapCache, 0x55105940, 0x57004059},
	} {
		p := filepath.Join(criuTestdata, tc.file)
		img, err := ReadImage(bytes.NewReader(readTestFile(t, p)), tc.file, WantKind(tc.kind))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if img.Common != tc.common || img.Magic != tc.magic || img.Kind() != tc.kind {
			t.Errorf("%s: common %#x magic %#x kind %q, want %#x %#x %q", tc.file, img.Common, img.Magic, img.Kind(), tc.common, tc.magic, tc.kind)
		}
		head, typ, err := tc.kind.Magics()
		if err != nil || head != tc.common || typ != tc.magic {
			t.Errorf("%s.Magics() = %#x, %#x, %v", tc.kind, head, typ, err)
		}
	}
}

func TestReadImageFile(t *testing.T) {
	img, err := ReadImageFile(filepath.Join(criuTestdata, "basic", FilesImg), WantKind(KindFiles))
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != FilesImg || len(img.Entries) == 0 {
		t.Fatalf("name %q, %d entries", img.Name, len(img.Entries))
	}
	if _, err := ReadImageFile(filepath.Join(criuTestdata, "no-such.img")); err == nil {
		t.Fatal("missing file read")
	}
}
