package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// leafCommands returns every command of the CLI that runs something.
func leafCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range root.Commands() {
		if c.Runnable() && !c.HasSubCommands() {
			out = append(out, c)
		}
		out = append(out, leafCommands(c)...)
	}
	return out
}

// TestOutputFlagIsOneType: every command with -o parses it with
// outputFormat, which accepts text and json and nothing else.
func TestOutputFlagIsOneType(t *testing.T) {
	n := 0
	for _, c := range leafCommands(newRootCmd()) {
		fl := c.Flags().Lookup("output")
		if fl == nil {
			continue
		}
		n++
		if _, ok := fl.Value.(*outputFormat); !ok || fl.Shorthand != "o" || fl.DefValue != "text" {
			t.Errorf("%s: --output is %T, -%s, default %q; want *outputFormat, -o, text", c.Name(), fl.Value, fl.Shorthand, fl.DefValue)
		}
	}
	if n < 4 {
		t.Errorf("%d commands have -o, want at least check, demo, dump and fixup", n)
	}
	var o outputFormat
	for _, v := range []string{"json", "text"} {
		if err := o.Set(v); err != nil || string(o) != v {
			t.Errorf("Set(%q): %v, value %q", v, err, o)
		}
	}
	for _, v := range []string{"", "xml", "JSON", "text "} {
		if err := o.Set(v); err == nil || !strings.Contains(err.Error(), "text or json") || o != outputText {
			t.Errorf("Set(%q): err %v, value %q; want an error naming text or json and the value unchanged", v, err, o)
		}
	}
}

// TestArgsViolationIsUsage: every command checks its positional arguments,
// and a violation is a usageError (exit 2) that names the command.
func TestArgsViolationIsUsage(t *testing.T) {
	for _, c := range leafCommands(newRootCmd()) {
		if c.Args == nil {
			t.Errorf("%s: no positional-argument rule", c.Name())
			continue
		}
		err := c.Args(c, []string{"1", "2"})
		if err == nil || !isUsage(err) || exitCode(err) != exitUsage || !strings.HasPrefix(err.Error(), c.Name()+" takes ") {
			t.Errorf("%s with 2 arguments: %v (usage %v); want a usageError starting %q", c.Name(), err, isUsage(err), c.Name()+" takes ")
		}
	}
	dump := newDumpCmd()
	for _, args := range [][]string{{"0"}, {"-1"}, {"abc"}, {""}} {
		if err := dump.Args(dump, args); err == nil || !isUsage(err) || !strings.Contains(err.Error(), "positive number") {
			t.Errorf("dump %q: %v; want a usageError about a positive number", args, err)
		}
	}
	if err := dump.Args(dump, []string{"42"}); err != nil {
		t.Errorf("dump 42: %v", err)
	}
}
