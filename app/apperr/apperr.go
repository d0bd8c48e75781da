// Package apperr names the few ways a use case can fail, so that every port can
// translate them (to an HTTP status, a message acknowledgement, an exit code)
// from one table instead of guessing from error strings.
package apperr

import (
	"errors"
	"fmt"
)

// Code is what went wrong, in terms a caller can act on.
type Code string

const (
	// Invalid: the input breaks a rule; retrying the same input cannot succeed.
	Invalid Code = "invalid"
	// NotFound: the thing asked for does not exist.
	NotFound Code = "not_found"
	// Unavailable: a dependency is down; the same request may succeed later.
	Unavailable Code = "unavailable"
	// IdempotencyKeyReused: the client's idempotency key names a command made
	// for another request (another body, or another type of command);
	// retrying cannot succeed, a new key can.
	IdempotencyKeyReused Code = "idempotency_key_reused"
	// Internal: a bug or an unexpected state.
	Internal Code = "internal"
)

// Error is an error with a Code, a message fit for the caller and, when one input
// field is at fault, that field's name.
type Error struct {
	Code    Code
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// InvalidField reports that field breaks a rule.
func InvalidField(field string, format string, args ...any) error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf reports that something does not exist.
func NotFoundf(format string, args ...any) error {
	return &Error{Code: NotFound, Message: fmt.Sprintf(format, args...)}
}

// Unavailablef wraps the failure of a dependency.
func Unavailablef(err error, format string, args ...any) error {
	return &Error{Code: Unavailable, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf is the Code of the first *Error in err's chain; Internal when there is none.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
