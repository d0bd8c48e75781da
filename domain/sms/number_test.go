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
		wantErr error
	}{
		{"+541112345678", nil},
		{"+12345678", nil},        // 8 digits, the fewest
		{"+123456789012345", nil}, // 15 digits, the most
		{"", sms.ErrNumberEmpty},
		{"+1234567", sms.ErrNumberNotE164},          // 7 digits
		{"+1234567890123456", sms.ErrNumberNotE164}, // 16 digits
		{"541112345678", sms.ErrNumberNotE164},      // no '+'
		{"+041112345678", sms.ErrNumberNotE164},     // first digit 0
		{"+54 11 1234 5678", sms.ErrNumberNotE164},
		{"+54-11-12345678", sms.ErrNumberNotE164},
		{" +541112345678", sms.ErrNumberNotE164},
		{"+541112345678\n", sms.ErrNumberNotE164},
		{"+5411123456a8", sms.ErrNumberNotE164},
		{"++541112345678", sms.ErrNumberNotE164},
		{"+", sms.ErrNumberNotE164},
		{"+٥٤١١١٢٣٤٥٦٧٨", sms.ErrNumberNotE164}, // Arabic-Indic digits are not E.164
		{"+54111234567\xff", sms.ErrNumberNotE164},
	}
	for _, tt := range tests {
		got, err := sms.ParseNumber(tt.raw)
		if err != tt.wantErr {
			t.Errorf("ParseNumber(%q) error = %v, want %v", tt.raw, err, tt.wantErr)
			continue
		}
		if err == nil && got.String() != tt.raw {
			t.Errorf("ParseNumber(%q) = %q", tt.raw, got)
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
