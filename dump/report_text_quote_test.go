package dump

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// appendQuoted is strconv.Quote, byte for byte: on every single byte, on
// every pair of bytes, and on random strings of printable ASCII with a
// few other bytes mixed in, as a string and as bytes.
func TestAppendQuotedIsStrconvQuote(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "/a/"+string([]byte{byte(c)})+"/b")
		for d := range 256 {
			inputs = append(inputs, string([]byte{byte(c), byte(d)}))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(' ' + rng.IntN('~'-' '+1))
			if rng.IntN(40) == 0 {
				b[i] = byte(rng.IntN(256))
			}
		}
		inputs = append(inputs, string(b))
	}
	inputs = append(inputs, "", "ünïcödé 名前", "\u202e", "~ \x7f")
	for _, in := range inputs {
		want := strconv.Quote(in)
		if got := string(appendQuoted([]byte("x"), in)); got != "x"+want {
			t.Fatalf("appendQuoted(%q) = %s, want %s", in, got[1:], want)
		}
		if got := string(appendQuoted(nil, []byte(in))); got != want {
			t.Fatalf("appendQuoted([]byte(%q)) = %s, want %s", in, got, want)
		}
	}
}
