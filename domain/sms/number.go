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
	ErrNumberNotE164 = fmt.Errorf("number must be in E.164 format: '+' then the country code and number, %d to %d digits, the first not 0; spaces, dashes, dots and parentheses may separate the digits, e.g. +541112345678 or +54 11 1234-5678", MinNumberDigits, MaxNumberDigits)

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

// ParseNumber accepts a number in E.164, '+' then the country code and the
// number, written as people write it: spaces, dashes, dots and parentheses
// may stand between the digits ("+54 11 6658-7382", "+1 (415) 555-2671"). It
// keeps the digits only, so that what is stored, compared and given to the
// provider is one spelling. Anything else is refused: no '+' in front, a
// letter, another symbol, or parentheses that do not pair.
func ParseNumber(raw string) (Number, error) {
	if raw == "" {
		return Number{}, ErrNumberEmpty
	}
	if raw[0] != '+' || len(raw) > maxNumberLength {
		return Number{}, ErrNumberNotE164
	}
	digits := make([]byte, 1, MaxNumberDigits+1)
	digits[0] = '+'
	inParentheses := false
	for i := 1; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			if len(digits) > MaxNumberDigits {
				return Number{}, ErrNumberNotE164
			}
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.':
		case c == '(' && !inParentheses:
			inParentheses = true
		case c == ')' && inParentheses:
			inParentheses = false
		default:
			return Number{}, ErrNumberNotE164
		}
	}
	if inParentheses || len(digits)-1 < MinNumberDigits || digits[1] == '0' {
		return Number{}, ErrNumberNotE164
	}
	return Number{e164: string(digits)}, nil
}

// maxNumberLength bounds what ParseNumber reads: room for every digit with a
// separator or two between each, and no more, so that a long run of
// separators is refused at once.
const maxNumberLength = 4 * MaxNumberDigits

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
