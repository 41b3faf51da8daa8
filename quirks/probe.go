package quirks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ovlfix/ovlfix/internal/quote"
)

// envProbe carries the JSON probeRequest from Probe to the re-executed child.
const envProbe = "OVLFIX_QUIRKS_PROBE"

// probeRequest is what the child needs: an empty directory of the parent's
// that it may mount over inside its own namespace.
type probeRequest struct {
	Base string `json:"base"`
}

// Probe measures the running kernel: it re-executes this program
// (os.Executable) as the probe child in a new mount namespace, which needs
// root (CAP_SYS_ADMIN). The program must call MaybeRunProbeChild first
// thing in main or TestMain. The child takes well under a second.
func Probe(ctx context.Context) (*Set, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("quirks probe: %w", err)
	}
	return ProbeWith(ctx, exe)
}

// ProbeWith is Probe with another executable as the child; it must call
// MaybeRunProbeChild first thing.
func ProbeWith(ctx context.Context, exe string) (*Set, error) {
	base, err := os.MkdirTemp("", "ovlfix-probe-")
	if err != nil {
		return nil, fmt.Errorf("quirks probe: %w", err)
	}
	// The child's mounts die with its namespace; only the empty directory
	// is ours to remove.
	defer os.Remove(base)
	raw, err := json.Marshal(probeRequest{Base: base})
	if err != nil {
		return nil, err
	}
	started := time.Now().UTC()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envProbe+"="+string(raw))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL, // never outlive the parent
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("quirks probe child: %w: %s", err, msg)
		}
		if errors.Is(err, syscall.EPERM) {
			return nil, fmt.Errorf("quirks probe: cannot create a mount namespace (needs root or CAP_SYS_ADMIN): %w", err)
		}
		return nil, fmt.Errorf("quirks probe child: %w", err)
	}
	var s Set
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		return nil, fmt.Errorf("quirks probe child output %s: %w", quote.String(truncate(stdout.String(), 200)), err)
	}
	if !s.Probed {
		return nil, fmt.Errorf("quirks probe child returned an unprobed set")
	}
	s.ProbedAt = started
	b, err := currentBoot()
	if err != nil {
		return nil, err
	}
	s.Kernel, s.BootID = b.release, b.bootID
	return &s, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// MaybeRunProbeChild runs the probe child and exits when this process was
// started by Probe; otherwise it returns at once. Call it first thing in
// main (and in TestMain of tests that probe).
func MaybeRunProbeChild() {
	raw, ok := os.LookupEnv(envProbe)
	if !ok {
		return
	}
	os.Unsetenv(envProbe)
	var req probeRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil || req.Base == "" {
		fmt.Fprintf(os.Stderr, "bad probe request %s: %v\n", quote.String(raw), err)
		os.Exit(2)
	}
	s, err := runProbeChild(req.Base)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
