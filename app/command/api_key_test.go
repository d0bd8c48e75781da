package command_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/access"
)

func TestIdempotencyKeyIsScopedPerClient(t *testing.T) {
	t.Parallel()
	submit := command.NewSubmitCreateTechHandler(newMemoryCommandLog(), &recordingBus{}, nil, slog.New(slog.DiscardHandler))
	as := func(keyName string) context.Context {
		return access.WithPrincipal(context.Background(), access.Principal{KeyName: keyName, Scopes: []access.Scope{access.TechsWrite}})
	}
	alice, err := submit.Handle(as("alice"), command.SubmitCreateTech{CommandID: "k1", Name: "Kafka"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := submit.Handle(as("bob"), command.SubmitCreateTech{CommandID: "k1", Name: "Redis"})
	if err != nil {
		t.Fatalf("another client's same key was refused: %v", err)
	}
	if alice.CommandID == bob.CommandID {
		t.Fatalf("two clients share the command %s", alice.CommandID)
	}
	if again, err := submit.Handle(as("alice"), command.SubmitCreateTech{CommandID: "k1", Name: "Kafka"}); err != nil || again.CommandID != alice.CommandID {
		t.Fatalf("a client's retry: %+v, %v; want %s", again, err, alice.CommandID)
	}
	if _, err := submit.Handle(as("alice"), command.SubmitCreateTech{CommandID: "k1", Name: "Go"}); apperr.CodeOf(err) != apperr.IdempotencyKeyReused {
		t.Fatalf("a client's key reused with another body: %v", err)
	}
	// Without a principal (AUTH_MODE=off) the key is the command's id, as before.
	if open, err := submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "k1", Name: "Kafka"}); err != nil || open.CommandID != "k1" {
		t.Fatalf("without a principal: %+v, %v", open, err)
	}
}

// apiKeysInMemory keeps names only: enough for the rules of the use cases.
type apiKeysInMemory map[string]bool

func (m apiKeysInMemory) AddAPIKey(_ context.Context, k command.NewAPIKey) error {
	if m[k.Name] {
		return command.ErrAPIKeyNameTaken
	}
	m[k.Name] = true
	return nil
}

func (m apiKeysInMemory) RevokeAPIKey(_ context.Context, name string, _ time.Time) (bool, error) {
	return m[name], nil
}

func TestCreateAPIKeyRules(t *testing.T) {
	t.Parallel()
	create := command.NewCreateAPIKeyHandler(apiKeysInMemory{}, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		scopes []access.Scope
		field  string
	}{
		{"", []access.Scope{access.Admin}, "name"},
		{strings.Repeat("a", 65), []access.Scope{access.Admin}, "name"},
		{"has space", []access.Scope{access.Admin}, "name"},
		{"ünicode", []access.Scope{access.Admin}, "name"},
		{"ok", nil, "scopes"},
		{"ok", []access.Scope{"techs:delete"}, "scopes"},
	} {
		_, err := create.Handle(ctx, command.CreateAPIKey{Name: tc.name, Scopes: tc.scopes})
		if e, ok := apperr.As(err); !ok || e.Code != apperr.Invalid || e.Field != tc.field {
			t.Errorf("%q %v: %v, want invalid %s", tc.name, tc.scopes, err, tc.field)
		}
	}
	created, err := create.Handle(ctx, command.CreateAPIKey{Name: strings.Repeat("a", 64), Scopes: []access.Scope{access.SMSSend, access.SMSSend}})
	if err != nil || !access.LooksLikeAPIKey(created.Key) || len(created.Scopes) != 1 {
		t.Fatalf("created %+v, %v", created, err)
	}
	if _, err := create.Handle(ctx, command.CreateAPIKey{Name: "A-z.0_9", Scopes: access.Scopes}); err != nil {
		t.Fatalf("a name of every allowed kind of character: %v", err)
	}
	if _, err := create.Handle(ctx, command.CreateAPIKey{Name: "A-z.0_9", Scopes: access.Scopes}); apperr.CodeOf(err) != apperr.Invalid || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("a duplicate name: %v", err)
	}
	revoke := command.NewRevokeAPIKeyHandler(apiKeysInMemory{}, nil, slog.New(slog.DiscardHandler))
	if err := revoke.Handle(ctx, command.RevokeAPIKey{Name: "nobody"}); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("revoking an unknown key: %v", err)
	}
}
