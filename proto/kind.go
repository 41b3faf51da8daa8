package proto

import (
	"fmt"
	"sync"

	"github.com/checkpoint-restore/go-criu/v7/magic"
)

// Kind names an image type by its magic's name in CRIU's criu/include/magic.h (and in
// go-criu's magic package), e.g. "FILES".
type Kind string

// Image kinds ovlfix reads or writes.
const (
	KindInventory  Kind = "INVENTORY"   // inventory.img: no head magic
	KindFiles      Kind = "FILES"       // files.img
	KindFdinfo     Kind = "FDINFO"      // fdinfo-<files_id>.img
	KindMnts       Kind = "MNTS"        // mountpoints-<mnt_id>.img
	KindIds        Kind = "IDS"         // ids-<pid>.img
	KindPstree     Kind = "PSTREE"      // pstree.img
	KindFs         Kind = "FS"          // fs-<pid>.img
	KindMm         Kind = "MM"          // mm-<pid>.img
	KindIrmapCache Kind = "IRMAP_CACHE" // irmap-cache: IMG_SERVICE head
	KindStats      Kind = "STATS"       // stats-dump, stats-restore: IMG_SERVICE head
)

// Names of the two head magics in go-criu's magic table.
const (
	headCommon  = "IMG_COMMON"  // 0x54564319
	headService = "IMG_SERVICE" // 0x55105940
)

// magicTable is a value lookup over go-criu's magic table, built once per read or write
// (magic.LoadMagic returns fresh maps on each call; nothing is shared between calls).
type magicTable struct {
	byName  map[string]uint32
	byValue map[uint32]string
}

// loadMagicTable is the magic table, built once per process (go-criu's
// LoadMagic builds its maps anew on every call, which cost each image
// read a third of its time) and never written after: the maps are only
// read.
var loadMagicTable = sync.OnceValue(buildMagicTable)

func buildMagicTable() magicTable {
	m := magic.LoadMagic()
	t := magicTable{byName: make(map[string]uint32, len(m.ByName)), byValue: make(map[uint32]string, len(m.ByValue))}
	for name, v := range m.ByName {
		if v <= 0xffffffff {
			t.byName[name] = uint32(v)
		}
	}
	// go-criu's ByValue picks one name where magics are shared (PAGES_OLD and PAGEMAP).
	for v, name := range m.ByValue {
		if v <= 0xffffffff {
			t.byValue[uint32(v)] = name
		}
	}
	return t
}

// head returns the head magic that precedes kind's type magic: 0 for inventory,
// IMG_SERVICE for the service images, IMG_COMMON otherwise (criu/image-desc.c O_SERVICE).
func (t magicTable) head(kind Kind) uint32 {
	switch kind {
	case KindInventory:
		return 0
	case KindIrmapCache, KindStats:
		return t.byName[headService]
	default:
		return t.byName[headCommon]
	}
}

// magics returns kind's head and type magic.
func (t magicTable) magics(kind Kind) (head, typ uint32, err error) {
	typ, ok := t.byName[string(kind)]
	if !ok || typ == 0 || string(kind) == headCommon || string(kind) == headService {
		return 0, 0, fmt.Errorf("unknown image kind %q", string(kind))
	}
	return t.head(kind), typ, nil
}

// Magics returns the head magic (0 for inventory) and the type magic of kind.
func (k Kind) Magics() (head, typ uint32, err error) {
	return loadMagicTable().magics(k)
}

// magicName formats v for error messages: "0x56303138 (FILES)".
func (t magicTable) magicName(v uint32) string {
	if name, ok := t.byValue[v]; ok {
		return fmt.Sprintf("%#08x (%s)", v, name)
	}
	return fmt.Sprintf("%#08x", v)
}
