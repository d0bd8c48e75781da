package sqlstore_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/access"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

func TestAPIKeyStore(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			keys, err := sqlstore.NewAPIKeyStore(db)
			if err != nil {
				t.Fatal(err)
			}
			logger := slog.New(slog.DiscardHandler)
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			create := command.NewCreateAPIKeyHandler(keys, clock, logger)
			revoke := command.NewRevokeAPIKeyHandler(keys, clock, logger)
			list := query.NewAPIKeysHandler(keys, logger)
			authenticate := query.NewAuthenticateAPIKeyHandler(keys, clock, logger)

			created, err := create.Handle(ctx, command.CreateAPIKey{Name: "ci-bot", Scopes: []access.Scope{access.TechsRead, access.TechsWrite}})
			if err != nil {
				t.Fatal(err)
			}
			if !access.LooksLikeAPIKey(created.Key) {
				t.Fatalf("key %q has not the shape of a key", created.Key)
			}
			if _, err := create.Handle(ctx, command.CreateAPIKey{Name: "ci-bot", Scopes: []access.Scope{access.Admin}}); apperr.CodeOf(err) != apperr.Invalid {
				t.Fatalf("a second key named ci-bot: %v, want invalid", err)
			}

			p, err := authenticate.Handle(ctx, query.AuthenticateAPIKey{Key: created.Key})
			if err != nil || p.KeyName != "ci-bot" || !p.Can(access.TechsWrite) || p.Can(access.Admin) {
				t.Fatalf("authenticated as %+v, %v", p, err)
			}
			other, _ := access.NewAPIKey()
			if _, err := authenticate.Handle(ctx, query.AuthenticateAPIKey{Key: other}); !errors.Is(err, query.ErrUnauthenticated) {
				t.Fatalf("an unknown key: %v", err)
			}

			listed, err := list.Handle(ctx, query.APIKeys{Limit: 10})
			if err != nil || len(listed) != 1 {
				t.Fatalf("list = %+v, %v", listed, err)
			}
			if k := listed[0]; k.Name != "ci-bot" || len(k.Scopes) != 2 || !k.CreatedAt.Equal(now) || !k.LastUsedAt.Equal(now) || !k.RevokedAt.IsZero() {
				t.Fatalf("listed %+v", k)
			}

			// A use within the minute is not written; one after it is.
			if err := keys.MarkAPIKeyUsed(ctx, "ci-bot", now.Add(30*time.Second), now.Add(30*time.Second-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if k, _, _ := keys.APIKeyByHash(ctx, access.HashAPIKey(created.Key)); !k.LastUsedAt.Equal(now) {
				t.Fatalf("last used moved within the minute: %v", k.LastUsedAt)
			}
			later := now.Add(2 * time.Minute)
			if err := keys.MarkAPIKeyUsed(ctx, "ci-bot", later, later.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if k, _, _ := keys.APIKeyByHash(ctx, access.HashAPIKey(created.Key)); !k.LastUsedAt.Equal(later) {
				t.Fatalf("last used = %v, want %v", k.LastUsedAt, later)
			}

			if err := revoke.Handle(ctx, command.RevokeAPIKey{Name: "ci-bot"}); err != nil {
				t.Fatal(err)
			}
			if err := revoke.Handle(ctx, command.RevokeAPIKey{Name: "ci-bot"}); err != nil {
				t.Fatalf("revoking twice: %v", err)
			}
			if err := revoke.Handle(ctx, command.RevokeAPIKey{Name: "nobody"}); apperr.CodeOf(err) != apperr.NotFound {
				t.Fatalf("revoking an unknown key: %v, want not found", err)
			}
			if k, found, err := keys.APIKeyByHash(ctx, access.HashAPIKey(created.Key)); err != nil || !found || !k.Revoked {
				t.Fatalf("after revoke: %+v, %v, %v", k, found, err)
			}
			if listed, _ := list.Handle(ctx, query.APIKeys{Limit: 10}); len(listed) != 1 || !listed[0].RevokedAt.Equal(now) {
				t.Fatalf("listed after revoke: %+v", listed)
			}
			// A fresh authenticator has nothing cached: the store refuses the key.
			if _, err := query.NewAuthenticateAPIKeyHandler(keys, clock, logger).Handle(ctx, query.AuthenticateAPIKey{Key: created.Key}); !errors.Is(err, query.ErrUnauthenticated) {
				t.Fatalf("a revoked key: %v", err)
			}
		})
	}
}

// TestAPIKeyRevocationSeenByAnotherProcess revokes a key through one
// connection to a MySQL database while another process's authenticator, with
// the key in its cache, keeps being asked: it must refuse the key within the
// 5 seconds revocation promises.
func TestAPIKeyRevocationSeenByAnotherProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.MySQLDatabase(t)
	logger := slog.New(slog.DiscardHandler)
	open := func() *sqlstore.APIKeyStore {
		pool, err := mysqldb.Open(dsn, mysqldb.PoolConfig{MaxOpenConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pool.Close() })
		db, err := sqlstore.NewMySQL(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := sqlstore.NewAPIKeyStore(db)
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	operator, server := open(), open()

	created, err := command.NewCreateAPIKeyHandler(operator, nil, logger).Handle(ctx, command.CreateAPIKey{Name: "leaked", Scopes: []access.Scope{access.TechsRead}})
	if err != nil {
		t.Fatal(err)
	}
	authenticate := query.NewAuthenticateAPIKeyHandler(server, nil, logger)
	if _, err := authenticate.Handle(ctx, query.AuthenticateAPIKey{Key: created.Key}); err != nil {
		t.Fatalf("before the revocation: %v", err)
	}
	if err := command.NewRevokeAPIKeyHandler(operator, nil, logger).Handle(ctx, command.RevokeAPIKey{Name: "leaked"}); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		_, err := authenticate.Handle(ctx, query.AuthenticateAPIKey{Key: created.Key})
		if errors.Is(err, query.ErrUnauthenticated) {
			return
		}
		if time.Since(revoked) > 5*time.Second {
			t.Fatalf("the revoked key was still accepted %s after its revocation (last answer: %v)", time.Since(revoked), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
