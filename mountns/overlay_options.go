package mountns

import (
	"fmt"
	"strings"
)

// Layer is one lower layer of an overlay mount.
type Layer struct {
	// Path is the layer directory as the mounter gave it, all escapes
	// removed. It is the mounter's string: absolute in the mounter's mount
	// namespace at mount time, or relative to the mounter's cwd (dockerd
	// uses relative "l/<id>" links when the absolute options would not fit
	// in a page). The kernel does not canonicalise it.
	Path string
	// DataOnly marks a data-only lower layer ("lowerdir=a::b" or
	// "datadir+=b", 6.5+): reachable only through metacopy redirects.
	DataOnly bool
}

// Overlay is the parsed super options of an overlay mount (mountinfo field
// 11, VFSOptions), as fs/overlayfs ovl_show_options prints them.
//
// Which options appear depends on the kernel and its module defaults: an
// option is printed only when it differs from the default (so absent
// index/xino/metacopy mean "the module default", not "off"), xino only when
// the layers are not all on one filesystem, and 6.6+ prints uuid=on for
// every new upper overlay. Values are kept raw.
type Overlay struct {
	Lower       []Layer // top-most first; data-only layers last
	Upper, Work string  // "" for a read-only overlay (no upper)
	UserXattr   bool    // userxattr (5.11+): user.overlay.* xattrs, rootless mounts

	RedirectDir, Metacopy, Xino, Index, NFSExport, UUID, Verity string // raw values, "" if absent

	// Volatile is set by "volatile" (5.10+) and by "fsync=volatile", which is
	// how 6.18 shows it; Fsync keeps the raw fsync= value.
	Volatile bool
	Fsync    string

	DefaultPermissions bool // default_permissions
	ReadOnly           bool // the generic superblock flag "ro" (always so without an upper)

	Other []string // options not understood, verbatim (still escaped)
}

// ParseOverlayOptions parses the super options of an overlay mount, as found
// in mountinfo's last field (moby's Info.VFSOptions), still mountinfo-escaped.
//
// lowerdir= (all kernels) and lowerdir+=/datadir+= (6.8+, shown when the
// mount was made with them) both fill Lower, in the order printed.
func ParseOverlayOptions(superOpts string) (*Overlay, error) {
	o := &Overlay{}
	for opt := range strings.SplitSeq(superOpts, ",") {
		key, raw, hasValue := strings.Cut(opt, "=")
		if !hasValue {
			switch key {
			case "rw", "":
			case "ro":
				o.ReadOnly = true
			case "userxattr":
				o.UserXattr = true
			case "volatile":
				o.Volatile = true
			case "default_permissions":
				o.DefaultPermissions = true
			default:
				o.Other = append(o.Other, opt)
			}
			continue
		}
		switch key {
		case "lowerdir":
			layers, err := splitLowerdir(unescapeOctal(raw))
			if err != nil {
				return nil, err
			}
			o.Lower = append(o.Lower, layers...)
		case "lowerdir+", "datadir+":
			p := unescapeOctal(raw)
			if p == "" {
				return nil, fmt.Errorf("%s layer %d: %w", key, len(o.Lower)+1, errEmptyLayer)
			}
			o.Lower = append(o.Lower, Layer{Path: p, DataOnly: key == "datadir+"})
		case "upperdir":
			o.Upper = unescapeOverlay(unescapeOctal(raw))
		case "workdir":
			o.Work = unescapeOverlay(unescapeOctal(raw))
		case "redirect_dir":
			o.RedirectDir = raw
		case "metacopy":
			o.Metacopy = raw
		case "xino":
			o.Xino = raw
		case "index":
			o.Index = raw
		case "nfs_export":
			o.NFSExport = raw
		case "uuid":
			o.UUID = raw
		case "verity":
			o.Verity = raw
		case "fsync":
			o.Fsync = raw
			if raw == "volatile" {
				o.Volatile = true
			}
		default:
			o.Other = append(o.Other, opt)
		}
	}
	return o, nil
}
