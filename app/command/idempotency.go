package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"

	"github.com/techradar/techradar/app/apperr"
)

// Accepted is what the command log holds under the id a submission gave
// Accept: a client's idempotency key names one command, and a retry must be
// told what the first request was told, or that it asked for something else.
type Accepted struct {
	Status Status
	// Created is set when this call recorded the command.
	Created bool
	// AggregateID is what the command changed once processed ("" before).
	AggregateID string
	// Request is the fingerprint kept with the command: "" for one recorded
	// without (before fingerprints were kept), which any request matches.
	Request string
	// OtherType is set when the id names a command of another type: a key
	// of one route family whose id collides with another's.
	OtherType bool
}

// requestFingerprint is what tells two requests under one idempotency key
// apart: a SHA-256 of the command's type and the request's fields after the
// domain's normalization, so that the same request spelt differently matches
// and a key reused on another type of command does not.
func requestFingerprint(cmd any, fields ...string) string {
	// JSON keeps the fields apart: ("ab", "c") and ("a", "bc") differ.
	encoded, _ := json.Marshal(append([]string{reflect.TypeOf(cmd).Name()}, fields...))
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:])
}

// refuseReusedKey is nil when what the log holds was made for request.
func refuseReusedKey(accepted Accepted, request string) error {
	if accepted.Created {
		return nil
	}
	if accepted.OtherType || (accepted.Request != "" && accepted.Request != request) {
		return errKeyReused()
	}
	return nil
}

func errKeyReused() error {
	return &apperr.Error{Code: apperr.IdempotencyKeyReused, Message: "the idempotency key was used before for another request"}
}
