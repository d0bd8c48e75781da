// Package tech holds the rules of techradar that need no I/O: what a tech's name
// is, how mentions count and how priority follows from them.
package tech

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxNameLength is the longest name, in characters, after normalization.
const MaxNameLength = 100

var (
	ErrNameEmpty            = errors.New("name is empty")
	ErrNameTooLong          = fmt.Errorf("name is longer than %d characters", MaxNameLength)
	ErrNameInvalidUTF8      = errors.New("name is not valid UTF-8")
	ErrNameControlCharacter = errors.New("name contains a control character")
)

// Name is a validated, normalized tech name. Its zero value is not a valid name;
// build one with ParseName.
type Name struct {
	display string
	key     string
}

// folder folds case the Unicode way ("Straße" and "STRASSE" fold alike), which
// strings.ToLower does not.
var folder = cases.Fold()

// ParseName normalizes raw (trims it, collapses inner whitespace to one space,
// applies Unicode NFC) and validates the result.
//
// Whitespace of any kind, tabs and newlines included, counts as a separator and is
// collapsed; any other control character is refused, since it cannot be shown.
func ParseName(raw string) (Name, error) {
	if !utf8.ValidString(raw) {
		return Name{}, ErrNameInvalidUTF8
	}
	for _, r := range raw {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return Name{}, ErrNameControlCharacter
		}
	}

	display := norm.NFC.String(strings.Join(strings.Fields(raw), " "))
	switch n := utf8.RuneCountInString(display); {
	case n == 0:
		return Name{}, ErrNameEmpty
	case n > MaxNameLength:
		return Name{}, ErrNameTooLong
	}

	// Folding can change the form of some characters, so normalize once more: the
	// key must compare equal for names that only differ in case.
	key := norm.NFC.String(folder.String(display))
	return Name{display: display, key: key}, nil
}

// String is the name as it was spelled, normalized.
func (n Name) String() string { return n.display }

// Key identifies the tech: names that differ only in case share it.
func (n Name) Key() string { return n.key }

// IsZero reports whether n was not built by ParseName.
func (n Name) IsZero() bool { return n.key == "" }
