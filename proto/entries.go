package proto

import (
	"errors"
	"fmt"

	gproto "google.golang.org/protobuf/proto"
)

// NewImage returns an empty image of kind; name is used in error messages.
func NewImage(name string, kind Kind) (*Image, error) {
	head, typ, err := kind.Magics()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Image{Name: name, Common: head, Magic: typ}, nil
}

// Decode unmarshals entry i into m (reset first). Required fields must be present;
// unknown fields are kept in m and written back by Marshal.
func (img *Image) Decode(i int, m gproto.Message) error {
	if i < 0 || i >= len(img.Entries) {
		return fmt.Errorf("%s: entry %d: out of range (%d entries)", img.Name, i, len(img.Entries))
	}
	if err := gproto.Unmarshal(img.Entries[i], m); err != nil {
		return fmt.Errorf("%s: entry %d: decoding %s: %w", img.Name, i, msgName(m), err)
	}
	return nil
}

// Marshal encodes m as CRIU would: fields in number order, unknown fields after them.
// It fails, rather than writing an entry CRIU cannot read, if a required field is unset.
func Marshal(m gproto.Message) ([]byte, error) {
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil, errors.New("nil message")
	}
	return gproto.MarshalOptions{}.Marshal(m)
}

// SetEntry replaces entry i with the encoding of m.
func (img *Image) SetEntry(i int, m gproto.Message) error {
	if i < 0 || i >= len(img.Entries) {
		return fmt.Errorf("%s: entry %d: out of range (%d entries)", img.Name, i, len(img.Entries))
	}
	b, err := Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: entry %d: encoding %s: %w", img.Name, i, msgName(m), err)
	}
	img.Entries[i] = b
	return nil
}

// Append adds the encoding of m as a new last entry.
func (img *Image) Append(m gproto.Message) error {
	b, err := Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: entry %d: encoding %s: %w", img.Name, len(img.Entries), msgName(m), err)
	}
	img.Entries = append(img.Entries, b)
	return nil
}

// protoMessage is the constraint of the generic helpers: a generated message type.
type protoMessage = gproto.Message

// decodeAll decodes every entry of img as a message of type M.
func decodeAll[M any, PM interface {
	*M
	gproto.Message
}](img *Image) ([]PM, error) {
	out := make([]PM, len(img.Entries))
	for i := range img.Entries {
		m := PM(new(M))
		if err := img.Decode(i, m); err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// encodeAll builds an image of kind from msgs.
func encodeAll[PM gproto.Message](name string, kind Kind, msgs []PM) (*Image, error) {
	img, err := NewImage(name, kind)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := img.Append(m); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// msgName names m's message type for errors ("reg_file_entry"); m may be nil.
func msgName(m gproto.Message) string {
	if m == nil {
		return "<nil>"
	}
	return string(m.ProtoReflect().Descriptor().Name())
}
