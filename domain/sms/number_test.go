package sms_test

import (
	"strings"
	"testing"

	"github.com/techradar/techradar/domain/sms"
)

func TestParseNumber(t *testing.T) {
	t.Parallel()

	tests := []struct {
		raw     string
		want    string // the number in E.164; raw itself when ""
		wantErr error
	}{
		{"+541112345678", "", nil},
		{"+12345678", "", nil},        // 8 digits, the fewest
		{"+123456789012345", "", nil}, // 15 digits, the most
		{"+54 11 6658-7382", "+541166587382", nil},
		{"+1 (415) 555-2671", "+14155552671", nil},
		{"+1.415.555.2671", "+14155552671", nil},
		{"+54 11 1234 5678", "+541112345678", nil},
		{"+54-11-12345678", "+541112345678", nil},
		{"+(54) 11 1234-5678", "+541112345678", nil},
		{"+1 234 567 890 123 45", "+123456789012345", nil}, // 15 digits with spaces
		{"", "", sms.ErrNumberEmpty},
		{"+1234567", "", sms.ErrNumberNotE164},          // 7 digits
		{"+1 234 567", "", sms.ErrNumberNotE164},        // 7 digits with spaces
		{"+1234567890123456", "", sms.ErrNumberNotE164}, // 16 digits
		{"+1 234 567 890 123 456", "", sms.ErrNumberNotE164},
		{"541112345678", "", sms.ErrNumberNotE164},    // no '+'
		{"54 11 6658-7382", "", sms.ErrNumberNotE164}, // no '+'
		{"(011) 6658-7382", "", sms.ErrNumberNotE164}, // no country code
		{"+041112345678", "", sms.ErrNumberNotE164},   // first digit 0
		{"+0 41 112345678", "", sms.ErrNumberNotE164},
		{" +541112345678", "", sms.ErrNumberNotE164},
		{"+541112345678\n", "", sms.ErrNumberNotE164},
		{"+54\t11 1234 5678", "", sms.ErrNumberNotE164},
		{"+5411123456a8", "", sms.ErrNumberNotE164},
		{"+54/11/12345678", "", sms.ErrNumberNotE164},
		{"+54 11 1234-5678 ext 9", "", sms.ErrNumberNotE164},
		{"+1 (415 555-2671", "", sms.ErrNumberNotE164},    // parenthesis left open
		{"+1 415) 555-2671", "", sms.ErrNumberNotE164},    // parenthesis never opened
		{"+1 ((415)) 555-2671", "", sms.ErrNumberNotE164}, // nested
		{"+1" + strings.Repeat(" ", 100) + "4155552671", "", sms.ErrNumberNotE164},
		{"++541112345678", "", sms.ErrNumberNotE164},
		{"+", "", sms.ErrNumberNotE164},
		{"+ - . ()", "", sms.ErrNumberNotE164},
		{"+٥٤١١١٢٣٤٥٦٧٨", "", sms.ErrNumberNotE164}, // Arabic-Indic digits are not E.164
		{"+54111234567\xff", "", sms.ErrNumberNotE164},
		{"+54\u00a011 1234 5678", "", sms.ErrNumberNotE164}, // a no-break space is not one of the separators
	}
	for _, tt := range tests {
		got, err := sms.ParseNumber(tt.raw)
		if err != tt.wantErr {
			t.Errorf("ParseNumber(%q) error = %v, want %v", tt.raw, err, tt.wantErr)
			continue
		}
		want := tt.want
		if want == "" {
			want = tt.raw
		}
		if err == nil && got.String() != want {
			t.Errorf("ParseNumber(%q) = %q, want %q", tt.raw, got, want)
		}
		if err != nil && !got.IsZero() {
			t.Errorf("ParseNumber(%q) failed but returned %q", tt.raw, got)
		}
	}
}

func TestParseText(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		raw     string
		wantErr error
	}{
		{"one character", "x", nil},
		{"kept as written", "  Hello,\n\tworld  ", nil},
		{"1600 characters", strings.Repeat("a", sms.MaxTextLength), nil},
		{"1600 characters of 4 bytes each", strings.Repeat("😀", sms.MaxTextLength), nil},
		{"empty", "", sms.ErrTextEmpty},
		{"only whitespace", " \t\r\n ", sms.ErrTextBlank},
		{"1601 characters", strings.Repeat("a", sms.MaxTextLength+1), sms.ErrTextTooLong},
		{"1601 characters of 2 bytes each", strings.Repeat("é", sms.MaxTextLength+1), sms.ErrTextTooLong},
		{"invalid UTF-8", "caf\xe9", sms.ErrTextInvalidUTF8},
		{"NUL", "a\x00b", sms.ErrTextControlCharacter},
		{"escape", "\x1b[31mred", sms.ErrTextControlCharacter},
		{"C1 control", "a\u0085b", sms.ErrTextControlCharacter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sms.ParseText(tt.raw)
			if err != tt.wantErr {
				t.Fatalf("ParseText error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got.String() != tt.raw {
				t.Fatalf("ParseText changed the text to %q", got)
			}
			if err != nil && !got.IsZero() {
				t.Fatalf("ParseText failed but returned %q", got)
			}
		})
	}
}

// FuzzParseNumber holds ParseNumber to its promise: whatever it accepts comes
// out in E.164, digits only, and parses again to itself.
func FuzzParseNumber(f *testing.F) {
	for _, seed := range []string{"+541112345678", "+54 11 6658-7382", "+1 (415) 555-2671", "+1.415.555.2671", "", "+", "+()", "+0 1", "541112345678"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := sms.ParseNumber(raw)
		if err != nil {
			if !n.IsZero() {
				t.Fatalf("ParseNumber(%q) failed but returned %q", raw, n)
			}
			return
		}
		e164 := n.String()
		if len(e164) < 1+sms.MinNumberDigits || len(e164) > 1+sms.MaxNumberDigits || e164[0] != '+' || e164[1] == '0' ||
			strings.Trim(e164[1:], "0123456789") != "" {
			t.Fatalf("ParseNumber(%q) = %q, not E.164", raw, e164)
		}
		again, err := sms.ParseNumber(e164)
		if err != nil || again != n {
			t.Fatalf("ParseNumber(%q) = %q, which parses again to %q, %v", raw, e164, again, err)
		}
	})
}
