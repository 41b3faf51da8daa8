package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// outputFormat is the value of -o/--output of every command that prints a
// report: text for people, json for programs (docs/cli.md). As a
// pflag.Value it rejects anything else while the flags are parsed, so a
// bad -o is a flag error: usageError, exit 2 (root.go's SetFlagErrorFunc).
type outputFormat string

const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
)

func (o *outputFormat) String() string { return string(*o) }

// Type is the placeholder help prints for the flag's value.
func (o *outputFormat) Type() string { return "text|json" }

func (o *outputFormat) Set(s string) error {
	switch v := outputFormat(s); v {
	case outputText, outputJSON:
		*o = v
		return nil
	}
	return errors.New("must be text or json") // pflag names the flag and the value
}

// addOutputFlag adds -o/--output to cmd, defaulting to text; usage says
// what each format prints.
func addOutputFlag(cmd *cobra.Command, o *outputFormat, usage string) {
	*o = outputText
	cmd.Flags().VarP(o, "output", "o", usage)
}
