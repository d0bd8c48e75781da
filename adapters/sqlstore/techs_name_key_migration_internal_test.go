package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/techradar/techradar/domain/tech"
)

// The migration that drops the unique index on techs.name_key keeps every
// tech of a database made before it, and leaves no unique index but the
// primary key.
func TestTechsNameKeyIndexDroppedKeepingTheTechs(t *testing.T) {
	// uniqueOther counts the unique indexes of techs but the primary key.
	uniqueOther := map[string]string{
		"sqlite": `SELECT COUNT(*) FROM pragma_index_list('techs') WHERE "unique" = 1 AND origin <> 'pk'`,
		"mysql": `SELECT COUNT(*) FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND table_name = 'techs' AND non_unique = 0 AND index_name <> 'PRIMARY'`,
	}
	for _, database := range unmigratedDatabases() {
		t.Run(database.name, func(t *testing.T) {
			ctx := context.Background()
			db := database.open(t)
			database.migrateUpTo(t, db, 9)
			name, err := tech.ParseName("Before The Migration")
			if err != nil {
				t.Fatal(err)
			}
			before := tech.New(name, tech.DefaultThresholdPolicy, time.Now())
			if _, err := db.ExecContext(ctx,
				"INSERT INTO techs (id, name_key, name, mentions, priority, priority_rank, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				before.ID, before.Key, before.Name, before.Mentions, before.Priority, before.Priority.Rank(), before.CreatedAt, before.UpdatedAt); err != nil {
				t.Fatal(err)
			}

			database.migrateAll(t, db)
			var key string
			if err := db.QueryRowContext(ctx, "SELECT name_key FROM techs WHERE id = ?", tech.IDForKey(before.Key)).Scan(&key); err != nil {
				t.Fatalf("the tech made before the migration: %v", err)
			}
			if key != before.Key {
				t.Errorf("name_key = %q, want %q", key, before.Key)
			}
			var unique int
			if err := db.QueryRowContext(ctx, uniqueOther[database.name]).Scan(&unique); err != nil {
				t.Fatal(err)
			}
			if unique != 0 {
				t.Errorf("techs has %d unique indexes besides its primary key, want none", unique)
			}
		})
	}
}
