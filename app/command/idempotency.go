package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"

	"github.com/google/uuid"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/domain/access"
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
	// Sent is set when the log sent the command itself, in the transaction
	// that recorded it: the submission has nothing left to send.
	Sent bool
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

// clientKeyNamespace scopes the ids made from the idempotency keys of
// authenticated clients.
var clientKeyNamespace = uuid.MustParse("6f1d3c2e-6a43-4b8e-9d0c-3c1f7a5e2b91")

// clientScopedKey is the idempotency key as the command log knows it. Keys
// are the clients' own choice, so two clients may choose the same one: a
// request authenticated as a principal gets an id made of the key's name and
// its key, and never meets another client's command. Without a principal
// (AUTH_MODE=off, or a public route) the key is used as it is, as before.
func clientScopedKey(ctx context.Context, key string) string {
	p, ok := access.PrincipalFrom(ctx)
	if key == "" || !ok {
		return key
	}
	// The NUL keeps ("a", "b/c") and ("a/b", "c") apart; neither part holds one.
	return uuid.NewSHA1(clientKeyNamespace, []byte(p.KeyName+"\x00"+key)).String()
}
