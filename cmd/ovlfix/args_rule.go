package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

// argsRule is a command's rule for its positional arguments: every
// validator must pass (cobra.MatchAll), and a violation is a usageError
// (exit 2) that first says what the command takes, e.g. "dump takes
// exactly one PID: accepts 1 arg(s), received 0".
func argsRule(takes string, validators ...cobra.PositionalArgs) cobra.PositionalArgs {
	valid := cobra.MatchAll(validators...)
	return func(cmd *cobra.Command, args []string) error {
		if err := valid(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s takes %s: %w", cmd.Name(), takes, err)}
		}
		return nil
	}
}

// pidArg validates that the first positional argument is a positive
// number (a pid); parsePID reads it once it has passed.
func pidArg(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		if _, err := parsePID(args[0]); err != nil {
			return err
		}
	}
	return nil
}

func parsePID(s string) (int, error) {
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("PID must be a positive number, got %q", s)
	}
	return pid, nil
}
