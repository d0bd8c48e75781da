package sqlstore

import (
	"context"
	"strings"
	"testing"

	"github.com/techradar/techradar/app/query"
)

// The list reads techs in the order of its index, page after page, instead
// of sorting the table for every page.
func TestSQLiteListReadsInTheOrderOfItsIndex(t *testing.T) {
	db := openSQLiteForStatements(t)
	techs := &TechRepository{db: db} // the list needs the DB only
	for _, after := range []*query.Cursor{nil, {PriorityRank: 1, Mentions: 3, Key: "kafka"}} {
		q, args := techs.listQuery(100, after)
		rows, err := db.reader().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "techs_list_order") || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("cursor %v: plan %q, want a scan of techs_list_order and no sort", after, got)
		}
	}
}
