package tech_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/techradar/techradar/domain/tech"
)

func FuzzParseName(f *testing.F) {
	for _, seed := range []string{"Kafka", "  apache \t kafka ", "Straße", "Cafe\u0301", "", " ", "\x00", "\xff\xfe", strings.Repeat("é", 101), "a\u0085b", "\u2028", "ﬀ", "İstanbul"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := tech.ParseName(raw)
		if err != nil {
			if !name.IsZero() {
				t.Fatalf("ParseName(%q) failed but returned %q", raw, name)
			}
			return
		}
		display := name.String()
		if !utf8.ValidString(display) || display == "" || utf8.RuneCountInString(display) > tech.MaxNameLength {
			t.Fatalf("ParseName(%q) = %q breaks the name rules", raw, display)
		}
		if display != strings.TrimSpace(display) || strings.Contains(display, "  ") {
			t.Fatalf("ParseName(%q) = %q is not collapsed", raw, display)
		}
		for _, r := range display {
			if unicode.IsControl(r) {
				t.Fatalf("ParseName(%q) = %q keeps a control character", raw, display)
			}
		}
		// Normalizing twice changes nothing.
		again, err := tech.ParseName(display)
		if err != nil || again != name {
			t.Fatalf("ParseName is not idempotent on %q: %q, %v", raw, again, err)
		}
	})
}
