// Package sms holds the rules of SMS notifications that need no I/O: what a
// valid number and text are, and how an SMS moves from queued to sent or
// failed as attempts to send it succeed or fail.
package sms

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

const (
	// MinNumberDigits and MaxNumberDigits bound the digits of a number after
	// its '+': E.164 allows at most 15, and no country's numbers are shorter
	// than 8 with their country code.
	MinNumberDigits = 8
	MaxNumberDigits = 15

	// MaxTextLength is the longest text, in characters: ten concatenated SMS
	// segments of 160 characters.
	MaxTextLength = 1600
)

var (
	ErrNumberEmpty   = errors.New("number is empty")
	ErrNumberNotE164 = fmt.Errorf("number must be in E.164 format: '+' then %d to %d digits, the first not 0, e.g. +541112345678", MinNumberDigits, MaxNumberDigits)

	ErrTextEmpty            = errors.New("text is empty")
	ErrTextBlank            = errors.New("text is only whitespace")
	ErrTextTooLong          = fmt.Errorf("text is longer than %d characters", MaxTextLength)
	ErrTextInvalidUTF8      = errors.New("text is not valid UTF-8")
	ErrTextControlCharacter = errors.New("text contains a control character other than tab or line break")
)

// Number is a phone number in E.164 format. Its zero value is not a valid
// number; build one with ParseNumber.
type Number struct {
	e164 string
}

// ParseNumber accepts a number written exactly in E.164: no spaces, dashes or
// brackets, so that what is stored is what the provider gets.
func ParseNumber(raw string) (Number, error) {
	if raw == "" {
		return Number{}, ErrNumberEmpty
	}
	digits := len(raw) - 1
	if raw[0] != '+' || digits < MinNumberDigits || digits > MaxNumberDigits || raw[1] == '0' {
		return Number{}, ErrNumberNotE164
	}
	for i := 1; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return Number{}, ErrNumberNotE164
		}
	}
	return Number{e164: raw}, nil
}

// String is the number in E.164.
func (n Number) String() string { return n.e164 }

// IsZero reports whether n was not built by ParseNumber.
func (n Number) IsZero() bool { return n.e164 == "" }

// Text is the body of an SMS, kept as written. Its zero value is not a valid
// text; build one with ParseText.
type Text struct {
	body string
}

// ParseText accepts 1 to MaxTextLength characters of valid UTF-8 that are not
// all whitespace. Tabs and line breaks are kept; any other control character
// is refused, since a phone cannot show it.
func ParseText(raw string) (Text, error) {
	if raw == "" {
		return Text{}, ErrTextEmpty
	}
	if !utf8.ValidString(raw) {
		return Text{}, ErrTextInvalidUTF8
	}
	blank := true
	for _, r := range raw {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return Text{}, ErrTextControlCharacter
		}
		if !unicode.IsSpace(r) {
			blank = false
		}
	}
	if blank {
		return Text{}, ErrTextBlank
	}
	if utf8.RuneCountInString(raw) > MaxTextLength {
		return Text{}, ErrTextTooLong
	}
	return Text{body: raw}, nil
}

// String is the text as written.
func (t Text) String() string { return t.body }

// IsZero reports whether t was not built by ParseText.
func (t Text) IsZero() bool { return t.body == "" }
