package sqlstore

import (
	"slices"
	"testing"
)

func TestPadToPowerOfTwoRepeatsTheLastValue(t *testing.T) {
	for _, tc := range []struct {
		in, want []any
	}{
		{[]any{"a"}, []any{"a"}},
		{[]any{"a", "b"}, []any{"a", "b"}},
		{[]any{"a", "b", "c"}, []any{"a", "b", "c", "c"}},
		{[]any{"a", "b", "c", "d", "e"}, []any{"a", "b", "c", "d", "e", "e", "e", "e"}},
	} {
		in := slices.Grow(slices.Clone(tc.in), 8)
		got := padToPowerOfTwo(in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("padToPowerOfTwo(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) || !slices.Equal(in[:cap(in)][len(in):len(tc.want)], make([]any, len(tc.want)-len(tc.in))) {
			t.Errorf("padToPowerOfTwo(%v) wrote into its argument's array", tc.in)
		}
	}
}
