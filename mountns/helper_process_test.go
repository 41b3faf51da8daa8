package mountns

import (
	"bufio"
	"fmt"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a helper process that holds a private mount
// namespace (re-exec with CLONE_NEWNS; Go then makes / MS_PRIVATE|MS_REC in
// the child, so nothing it mounts reaches the host). It prints one line when
// ready and exits when its stdin closes.
const helperEnv = "OVLFIX_MOUNTNS_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

func runHelper(mode, arg string) int {
	var err error
	var ready string
	switch mode {
	case "tmpfs-file": // mount a tmpfs on arg, create arg/x, report its ino
		ready, err = helperTmpfsFile(arg)
	case "mounts": // arg = "DIR:N": N tmpfs mounts under a tmpfs on DIR
		ready, err = helperManyMounts(arg)
	case "chain": // arg = "DIR:DEPTH": nested tmpfs mounts hidden by one (table_shape_live_test.go)
		ready, err = helperHiddenChain(arg)
	case "stack": // arg = "DIR:PLAIN:BENEATH": a stack of tmpfs mounts on DIR/s (table_shape_live_test.go)
		ready, err = helperStack(arg)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println(ready)
	io.Copy(io.Discard, os.Stdin)
	return 0
}

func helperTmpfsFile(dir string) (string, error) {
	if err := unix.Mount("ovlfix-test", dir, "tmpfs", 0, ""); err != nil {
		return "", err
	}
	if err := os.WriteFile(dir+"/x", []byte("inside"), 0o644); err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Stat(dir+"/x", &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d %d", st.Dev, st.Ino), nil
}

func helperManyMounts(arg string) (string, error) {
	dir, nstr, _ := strings.Cut(arg, ":")
	n, err := strconv.Atoi(nstr)
	if err != nil {
		return "", err
	}
	if err := unix.Mount("many", dir, "tmpfs", 0, ""); err != nil {
		return "", err
	}
	for i := range n {
		p := dir + "/" + strconv.Itoa(i)
		if err := unix.Mkdir(p, 0o755); err != nil {
			return "", err
		}
		if err := unix.Mount("m"+strconv.Itoa(i), p, "tmpfs", 0, "size=4k"); err != nil {
			return "", fmt.Errorf("mount %d: %w", i, err)
		}
	}
	return "ready", nil
}

// startHelper runs the helper in a new mount namespace and waits until it is
// ready; it returns the helper's pid and its ready line. The helper ends
// with the test.
func startHelper(tb testing.TB, mode, arg string) (int, string) {
	tb.Helper()
	testenv.RequireRoot(tb)
	cmd := exec.Command(os.Args[0], "-test.run=^$", arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil || strings.HasPrefix(line, "error:") {
		tb.Fatalf("helper %s: %q %v", mode, line, err)
	}
	return cmd.Process.Pid, line
}
