package tech_test

import (
	"strings"
	"testing"

	"github.com/techradar/techradar/domain/tech"
)

func TestParseName(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		raw         string
		wantDisplay string
		wantErr     error
	}{
		{name: "plain", raw: "Kafka", wantDisplay: "Kafka"},
		{name: "trimmed", raw: "  Kafka \n", wantDisplay: "Kafka"},
		{name: "inner whitespace collapsed", raw: "Apache \t  Kafka", wantDisplay: "Apache Kafka"},
		{name: "unicode spaces collapsed", raw: "Go\u00a0\u2003lang", wantDisplay: "Go lang"},
		{name: "decomposed to NFC", raw: "Cafe\u0301", wantDisplay: "Caf\u00e9"},
		{name: "one character", raw: "R", wantDisplay: "R"},
		{name: "100 characters", raw: strings.Repeat("é", 100), wantDisplay: strings.Repeat("é", 100)},
		{name: "100 characters once composed", raw: strings.Repeat("e\u0301", 100), wantDisplay: strings.Repeat("é", 100)},
		{name: "empty", raw: "", wantErr: tech.ErrNameEmpty},
		{name: "only whitespace", raw: " \t\n ", wantErr: tech.ErrNameEmpty},
		{name: "101 characters", raw: strings.Repeat("a", 101), wantErr: tech.ErrNameTooLong},
		{name: "invalid UTF-8", raw: "Kaf\xffka", wantErr: tech.ErrNameInvalidUTF8},
		{name: "NUL", raw: "Kaf\x00ka", wantErr: tech.ErrNameControlCharacter},
		{name: "escape", raw: "\x1b[31mKafka", wantErr: tech.ErrNameControlCharacter},
		{name: "C1 control", raw: "Kafka\u0085x\u009b", wantErr: tech.ErrNameControlCharacter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tech.ParseName(tt.raw)
			if err != tt.wantErr {
				t.Fatalf("ParseName(%q) error = %v, want %v", tt.raw, err, tt.wantErr)
			}
			if got.String() != tt.wantDisplay {
				t.Fatalf("ParseName(%q) = %q, want %q", tt.raw, got.String(), tt.wantDisplay)
			}
		})
	}
}

func TestNameKeyIgnoresCase(t *testing.T) {
	t.Parallel()

	same := [][]string{
		{"Kafka", "kafka", "KAFKA", "  kAfKa  "},
		{"Straße", "STRASSE", "strasse"},
		{"Café", "CAFE\u0301", "café"},
		{"Apache Kafka", "apache   KAFKA"},
	}
	for _, group := range same {
		first := mustParse(t, group[0])
		for _, raw := range group[1:] {
			if got := mustParse(t, raw); got.Key() != first.Key() {
				t.Errorf("key of %q = %q, want the key of %q (%q)", raw, got.Key(), group[0], first.Key())
			}
		}
	}

	if mustParse(t, "Go").Key() == mustParse(t, "Go lang").Key() {
		t.Error("different names share a key")
	}
}

func TestIDForIsStable(t *testing.T) {
	t.Parallel()

	a, b := mustParse(t, "Kafka"), mustParse(t, "KAFKA")
	if tech.IDFor(a) != tech.IDFor(b) {
		t.Fatal("names differing in case got different ids")
	}
	// The id is part of the API: it must not change between releases.
	if got, want := tech.IDFor(a), "f929b0a4-5d39-5a29-b4fe-b37db44eaafd"; got != want {
		t.Fatalf("IDFor(Kafka) = %s, want %s", got, want)
	}
	// Stores find a tech of a key by this id.
	if tech.IDForKey(a.Key()) != tech.IDFor(a) {
		t.Fatal("IDForKey(name.Key()) differs from IDFor(name)")
	}
}

func mustParse(t *testing.T, raw string) tech.Name {
	t.Helper()
	n, err := tech.ParseName(raw)
	if err != nil {
		t.Fatalf("ParseName(%q): %v", raw, err)
	}
	return n
}
