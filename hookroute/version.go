package hookroute

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ovlfix/ovlfix/internal/quote"
)

// Version is a CRIU release, e.g. 3.17.1.
type Version struct{ Major, Minor, Sub int }

func (v Version) String() string {
	if v.Sub == 0 {
		return fmt.Sprintf("%d.%d", v.Major, v.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Sub)
}

// Less reports whether v is older than major.minor.
func (v Version) Less(major, minor int) bool {
	return v.Major < major || (v.Major == major && v.Minor < minor)
}

// ParseVersion reads the output of `criu --version` ("Version: 3.17.1",
// optionally followed by "GitID: ..."). Untrusted: a binary that prints
// anything else is an error that quotes its first line.
func ParseVersion(out string) (Version, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	first := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first == "" {
			first = line
		}
		v, ok := strings.CutPrefix(line, "Version:")
		if !ok {
			continue
		}
		parts := strings.Split(strings.TrimSpace(v), ".")
		if len(parts) < 2 || len(parts) > 3 {
			break
		}
		var n [3]int
		for i, p := range parts {
			x, err := strconv.Atoi(p)
			if err != nil || x < 0 {
				return Version{}, fmt.Errorf("criu --version: bad version %s", quote.String(strings.TrimSpace(v)))
			}
			n[i] = x
		}
		return Version{n[0], n[1], n[2]}, nil
	}
	return Version{}, fmt.Errorf("criu --version printed no \"Version: X.Y[.Z]\" line (first line %s)", quote.String(first))
}

// ReadVersion runs `path --version` (at most 10 s) and parses it.
func ReadVersion(ctx context.Context, path string) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return Version{}, fmt.Errorf("%s --version: %w", quote.String(path), err)
	}
	v, err := ParseVersion(string(out))
	if err != nil {
		return Version{}, fmt.Errorf("%s: %w", quote.String(path), err)
	}
	return v, nil
}
