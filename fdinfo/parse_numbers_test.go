package fdinfo

import (
	"math"
	"testing"
)

func TestParseUintLimits(t *testing.T) {
	tests := []struct {
		in   string
		base uint64
		bits uint
		want uint64
		err  error
	}{
		{"ffffffffffffffff", 16, 64, math.MaxUint64, nil},
		{"10000000000000000", 16, 64, 0, errRange},
		{"18446744073709551615", 10, 64, math.MaxUint64, nil},
		{"18446744073709551616", 10, 64, 0, errRange},
		{"99999999999999999999", 10, 64, 0, errRange},
		{"4294967295", 10, 32, math.MaxUint32, nil},
		{"4294967296", 10, 32, 0, errRange},
		{"037777777777", 8, 32, math.MaxUint32, nil},
		{"040000000000", 8, 32, 0, errRange},
		{"80000000", 16, 31, 0, errRange},
		{"7fffffff", 16, 31, math.MaxInt32, nil},
		{"FF", 16, 8, 255, nil},
		{"100", 16, 8, 0, errRange},
		{"8", 8, 32, 0, errOctal},
		{"a", 10, 32, 0, errDecimal},
		{"g", 16, 32, 0, errHex},
		{"", 16, 32, 0, errEmpty},
	}
	for _, tt := range tests {
		got, err := parseUint([]byte(tt.in), tt.base, tt.bits)
		if got != tt.want || err != tt.err {
			t.Errorf("parseUint(%q, %d, %d) = %d, %v; want %d, %v", tt.in, tt.base, tt.bits, got, err, tt.want, tt.err)
		}
	}
}

func TestParseIntLimits(t *testing.T) {
	tests := []struct {
		in   string
		bits uint
		want int64
		err  error
	}{
		{"-9223372036854775808", 64, math.MinInt64, nil},
		{"9223372036854775807", 64, math.MaxInt64, nil},
		{"9223372036854775808", 64, 0, errRange},
		{"-9223372036854775809", 64, 0, errRange},
		{"-2147483648", 32, math.MinInt32, nil},
		{"2147483648", 32, 0, errRange},
		{"+5", 32, 5, nil},
		{"-", 32, 0, errEmpty},
		{"--1", 32, 0, errDecimal},
	}
	for _, tt := range tests {
		got, err := parseInt([]byte(tt.in), tt.bits)
		if got != tt.want || err != tt.err {
			t.Errorf("parseInt(%q, %d) = %d, %v; want %d, %v", tt.in, tt.bits, got, err, tt.want, tt.err)
		}
	}
}
