// Package query answers questions about techs and commands. It reads through a
// cache whose entries every tech event invalidates.
package query

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/domain/tech"
)

// Tech is a tech as the read side shows it. Its JSON is the API's Tech: the
// read model is cached, and served, in that form.
type Tech struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Key       string        `json:"-"`
	Mentions  int           `json:"mentions"`
	Priority  tech.Priority `json:"priority"`
	CreatedAt time.Time     `json:"createdAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
	// Status is active for every listed tech; a retired or merged one is
	// read by its id only, with when and why (or into what).
	Status        tech.Status `json:"status"`
	RetiredAt     *time.Time  `json:"retiredAt,omitempty"`
	RetiredReason string      `json:"retiredReason,omitempty"`
	MergedInto    string      `json:"mergedInto,omitempty"`
	MergedAt      *time.Time  `json:"mergedAt,omitempty"`
}

// Cursor marks where a page of the tech list ends: the sort key of its last tech
// (priority high to low, mentions high to low, then name key).
type Cursor struct {
	PriorityRank int
	Mentions     int
	Key          string
}

// CursorAfter is the cursor that continues the list after t.
func CursorAfter(t Tech) Cursor {
	return Cursor{PriorityRank: t.Priority.Rank(), Mentions: t.Mentions, Key: t.Key}
}

// String encodes the cursor as an opaque, URL-safe token.
func (c Cursor) String() string {
	b, _ := json.Marshal([]any{c.PriorityRank, c.Mentions, c.Key})
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a token made by Cursor.String.
func ParseCursor(token string) (Cursor, error) {
	invalid := apperr.InvalidField("cursor", "cursor is not one this API returned")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, invalid
	}
	var fields []json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || len(fields) != 3 {
		return Cursor{}, invalid
	}
	var c Cursor
	if json.Unmarshal(fields[0], &c.PriorityRank) != nil ||
		json.Unmarshal(fields[1], &c.Mentions) != nil ||
		json.Unmarshal(fields[2], &c.Key) != nil {
		return Cursor{}, invalid
	}
	if _, err := tech.PriorityFromRank(c.PriorityRank); err != nil || c.Mentions < 1 || c.Key == "" {
		return Cursor{}, invalid
	}
	return c, nil
}
