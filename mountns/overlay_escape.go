package mountns

import (
	"errors"
	"fmt"
	"strings"
)

// Two layers of escaping stand between a layer path and mountinfo text.
//
//  1. overlayfs's own: in lowerdir=, upperdir= and workdir= a backslash
//     makes the next byte literal, so "\:" and "\," and "\\" can appear in a
//     path (fs/overlayfs ovl_unescape). The kernel keeps and shows the string
//     exactly as the mounter typed it, escapes included. lowerdir+= and
//     datadir+= (6.8+) values are taken verbatim: no overlay escapes there.
//  2. mountinfo's: since 4.6 (seq_show_option) option values are printed
//     with seq_escape(value, ", \t\n\\"), i.e. comma, space, tab, newline and
//     backslash become \054 \040 \011 \012 \134. '=' and ':' are not escaped.
//     3.18-4.5 printed ",lowerdir=%s" raw, so commas and spaces in layer
//     paths broke the line there (moby's parser then truncates the field);
//     unescapeOctal is a no-op on such text.
//
// moby/sys/mountinfo unescapes Root, Mountpoint, FSType and Source but
// leaves VFSOptions alone, which is right: options must be split on the
// literal commas first, then each value unescaped.

// unescapeOctal undoes seq_escape's \NNN (three octal digits) escapes. A
// backslash not followed by three octal digits is kept as it is (pre-4.6
// kernels printed the mounter's backslashes raw).
func unescapeOctal(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+3 < len(s) && isOctal(s[i+1]) && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			c = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			i += 3
		}
		b = append(b, c)
	}
	return string(b)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// unescapeOverlay is the kernel's ovl_unescape: a backslash makes the next
// byte literal; a trailing lone backslash is dropped.
func unescapeOverlay(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

var errEmptyLayer = errors.New("empty layer")

// splitLowerdir splits the (octal-unescaped) value of lowerdir= into layers,
// top-most first, as the kernel does: unescaped ':' separates layers, and
// from the first unescaped "::" on (6.5+) the layers are data-only. Overlay
// escapes are removed from each path.
func splitLowerdir(s string) ([]Layer, error) {
	var layers []Layer
	dataOnly := false
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] == '\\' {
			if i+1 < len(s) {
				i++ // the escaped byte is part of the path
			}
			continue
		}
		if i < len(s) && s[i] != ':' {
			continue
		}
		p := unescapeOverlay(s[start:i])
		if p == "" { // "" or a lone "\": the kernel says "empty lowerdir"
			return nil, fmt.Errorf("lowerdir layer %d: %w", len(layers)+1, errEmptyLayer)
		}
		layers = append(layers, Layer{Path: p, DataOnly: dataOnly})
		if i+1 < len(s) && s[i+1] == ':' {
			dataOnly = true
			i++
		}
		start = i + 1
	}
	return layers, nil
}
