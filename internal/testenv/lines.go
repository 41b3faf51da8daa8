package testenv

import "strings"

// LinesWith returns the lines of text (a CRIU log, a watcher's events)
// that contain any of words, trimmed: what an end-to-end test quotes
// from a long log in its failure or its proof.
func LinesWith(text string, words ...string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, strings.TrimSpace(l))
				break
			}
		}
	}
	return out
}
