package proto

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	gproto "google.golang.org/protobuf/proto"
)

// regFile returns a complete reg_file_entry (all required fields set).
func regFile(id uint32, name string) *RegFileEntry {
	return &RegFileEntry{
		Id:    gproto.Uint32(id),
		Flags: gproto.Uint32(0o2), // O_RDWR
		Pos:   gproto.Uint64(7),
		Fown:  &FownEntry{Uid: gproto.Uint32(0), Euid: gproto.Uint32(0), Signum: gproto.Uint32(0), PidType: gproto.Uint32(0), Pid: gproto.Uint32(0)},
		Name:  gproto.String(name),
		MntId: gproto.Int32(48),
	}
}

// An unknown field (as a newer CRIU might add) survives decode, modify, marshal.
func TestUnknownFieldSurvivesEdit(t *testing.T) {
	orig, err := Marshal(regFile(5, "/tmp/a"))
	if err != nil {
		t.Fatal(err)
	}
	// Field 1000, varint 42, appended after the known fields.
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 1000, protowire.VarintType), 42)
	payload := append(append([]byte{}, orig...), unknown...)

	img := &Image{Name: "t.img", Entries: [][]byte{payload}}
	var re RegFileEntry
	if err := img.Decode(0, &re); err != nil {
		t.Fatal(err)
	}
	if got := re.ProtoReflect().GetUnknown(); !bytes.Equal(got, unknown) {
		t.Fatalf("unknown fields after decode = %x, want %x", got, unknown)
	}
	re.Name = gproto.String("/tmp/a-much-longer-name")
	if err := img.SetEntry(0, &re); err != nil {
		t.Fatal(err)
	}
	out := img.Entries[0]
	if !bytes.HasSuffix(out, unknown) {
		t.Fatalf("re-encoded entry %x does not end with the unknown field %x", out, unknown)
	}
	var back RegFileEntry
	if err := gproto.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.GetName() != "/tmp/a-much-longer-name" || back.GetId() != 5 || back.GetMntId() != 48 {
		t.Fatalf("re-decoded entry: %v", &back)
	}
}

// File names are bytes: newlines, spaces and invalid UTF-8 survive a binary round trip
// (proto2 strings are not UTF-8 checked by Go protobuf).
func TestRawNameBytesSurvive(t *testing.T) {
	for _, name := range []string{
		"/tmp/we ird\nname",
		"/tmp/raw\xff\xfename",
		"/tmp/\x00nul",
		"/tmp/x (deleted)",
	} {
		b, err := Marshal(regFile(1, name))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		var re RegFileEntry
		if err := gproto.Unmarshal(b, &re); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if re.GetName() != name {
			t.Fatalf("name %q came back as %q", name, re.GetName())
		}
		// The bytes are in the payload as they were given.
		if !bytes.Contains(b, []byte(name)) {
			t.Fatalf("payload %x lacks the raw name %q", b, name)
		}
	}
}

// Missing required fields are an error naming the entry and the message, not a panic.
func TestRequiredFieldsChecked(t *testing.T) {
	img, err := NewImage(FilesImg, KindFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Append(&FileEntry{Type: FdReg.Enum(), Id: gproto.Uint32(1), Reg: regFile(1, "/a")}); err != nil {
		t.Fatal(err)
	}
	bad := regFile(2, "/b")
	bad.Fown.Pid = nil // fown_entry has five required fields
	err = img.Append(&FileEntry{Type: FdReg.Enum(), Id: gproto.Uint32(2), Reg: bad})
	if err == nil || !strings.Contains(err.Error(), "files.img: entry 1: encoding file_entry") || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("err = %v, want an error naming files.img entry 1 and the missing field", err)
	}
	if err := img.Append(nil); err == nil || !strings.Contains(err.Error(), "nil message") {
		t.Fatalf("Append(nil) err = %v", err)
	}
	if err := img.Append((*FileEntry)(nil)); err == nil {
		t.Fatal("Append of a typed nil succeeded")
	}
	if len(img.Entries) != 1 {
		t.Fatalf("%d entries after failed appends, want 1", len(img.Entries))
	}
	if err := img.SetEntry(3, regFile(1, "/a")); err == nil {
		t.Fatal("SetEntry out of range succeeded")
	}
	if err := img.Decode(-1, &FileEntry{}); err == nil {
		t.Fatal("Decode(-1) succeeded")
	}
	// A payload without its required fields does not decode either.
	img.Entries = append(img.Entries, []byte{})
	if err := img.Decode(1, &FileEntry{}); err == nil || !strings.Contains(err.Error(), "files.img: entry 1") {
		t.Fatalf("Decode of an empty file_entry: err = %v", err)
	}
}
