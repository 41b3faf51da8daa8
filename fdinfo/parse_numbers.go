package fdinfo

import (
	"errors"
	"fmt"
)

// ErrSyntax is matched (errors.Is) by every error ParseFdinfo, ParseFdinfoBytes
// and ParseMaps return for text they cannot read. Such text is either not what
// the kernel printed (a truncated or forged file) or a format this package does
// not know yet; the error names the line and the field.
var ErrSyntax = errors.New("fdinfo: syntax error")

// syntaxError is the reason part of a parse error ("invalid octal").
type syntaxError string

func (e syntaxError) Error() string        { return string(e) }
func (e syntaxError) Is(target error) bool { return target == ErrSyntax }

const (
	errEmpty      = syntaxError("empty value")
	errOctal      = syntaxError("invalid octal")
	errDecimal    = syntaxError("invalid decimal")
	errHex        = syntaxError("invalid hex")
	errRange      = syntaxError("value out of range")
	errOddHex     = syntaxError("odd number of hex digits")
	errTruncated  = syntaxError("truncated line")
	errMissing    = syntaxError("missing field")
	errHandleSize = syntaxError("fhandle-bytes does not match f_handle")
	errState      = syntaxError("invalid task state")
)

// fieldErr builds "<what> line N: FIELD "VALUE": reason".
func fieldErr(what string, line int, field string, value []byte, err error) error {
	return fmt.Errorf("%s line %d: %s %q: %w", what, line, field, value, err)
}

// lineErr builds "<what> line N: reason" for errors that are not about one value.
func lineErr(what string, line int, format string, args ...any) error {
	return fmt.Errorf("%s line %d: "+format, append([]any{what, line}, args...)...)
}

// parseUint parses b (no sign, no prefix) in base 8, 10 or 16 into a value
// that must fit in bits bits. It does not allocate.
func parseUint(b []byte, base uint64, bits uint) (uint64, error) {
	if len(b) == 0 {
		return 0, errEmpty
	}
	limit := uint64(1)<<bits - 1
	if bits >= 64 {
		limit = ^uint64(0)
	}
	// cutoff: the largest v that may still be multiplied by base. Constant
	// divisors keep the hot path free of a 64-bit division.
	bad, cutoff := errDecimal, limit/10
	switch base {
	case 8:
		bad, cutoff = errOctal, limit/8
	case 16:
		bad, cutoff = errHex, limit/16
	}
	var v uint64
	for _, c := range b {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, bad
		}
		if d >= base {
			return 0, bad
		}
		if v > cutoff {
			return 0, errRange
		}
		v *= base
		if v > limit-d {
			return 0, errRange
		}
		v += d
	}
	return v, nil
}

// parseInt parses an optionally signed decimal that fits in bits bits.
func parseInt(b []byte, bits uint) (int64, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, err := parseUint(b, 10, 64)
	if err != nil {
		return 0, err
	}
	max := uint64(1) << (bits - 1) // |min|; max is one less
	if neg {
		if u > max {
			return 0, errRange
		}
		return -int64(u-1) - 1, nil
	}
	if u >= max {
		return 0, errRange
	}
	return int64(u), nil
}

// parseHexBytes decodes a string of hex digit pairs ("00fb21...").
func parseHexBytes(b []byte) ([]byte, error) {
	if len(b)%2 != 0 {
		return nil, errOddHex
	}
	out := make([]byte, len(b)/2)
	for i := range out {
		v, err := parseUint(b[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out[i] = byte(v)
	}
	return out, nil
}

// isBlank reports whether c is a separator in kernel key/value text.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// trimBlank removes leading and trailing spaces and tabs.
func trimBlank(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextToken splits off the next blank-separated token of b.
func nextToken(b []byte) (tok, rest []byte) {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	i := 0
	for i < len(b) && !isBlank(b[i]) {
		i++
	}
	return b[:i], b[i:]
}
