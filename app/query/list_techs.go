package query

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
)

const (
	DefaultListLimit = 100
	MaxListLimit     = 500
)

// ListTechs asks for one page of the tech list. Cursor is empty for the first page.
type ListTechs struct {
	Limit  int
	Cursor string
}

// TechPage is one page of the tech list; NextCursor is empty on the last page.
type TechPage struct {
	Techs      []Tech `json:"techs"`
	NextCursor string `json:"nextCursor"`
	// IsCached tells whether the page came from the cache rather than the store.
	IsCached bool `json:"-"`
}

// TechReadModel reads techs from the store.
type TechReadModel interface {
	// ListTechs returns up to limit techs in list order (priority high to low,
	// mentions high to low, name key), starting after the cursor when one is given.
	ListTechs(ctx context.Context, limit int, after *Cursor) ([]Tech, error)
	// TechByID returns the tech with id, or an apperr.NotFound error.
	TechByID(ctx context.Context, id string) (Tech, error)
}

// ListTechsHandler answers ListTechs.
type ListTechsHandler decorator.QueryHandler[ListTechs, TechPage]

type listTechsHandler struct {
	techs TechReadModel
	cache *readThrough
}

func (h listTechsHandler) Handle(ctx context.Context, q ListTechs) (TechPage, error) {
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return TechPage{}, apperr.InvalidField("limit", "limit must be between 1 and %d", MaxListLimit)
	}
	var after *Cursor
	if q.Cursor != "" {
		c, err := ParseCursor(q.Cursor)
		if err != nil {
			return TechPage{}, err
		}
		after = &c
	}

	key := fmt.Sprintf("list:%d:%s", q.Limit, q.Cursor)
	page, cached, err := readThroughLoad(ctx, h.cache, key, func(ctx context.Context) (TechPage, error) {
		// One more than asked tells whether a next page exists.
		techs, err := h.techs.ListTechs(ctx, q.Limit+1, after)
		if err != nil {
			return TechPage{}, err
		}
		page := TechPage{Techs: techs}
		if len(techs) > q.Limit {
			page.Techs = techs[:q.Limit]
			page.NextCursor = CursorAfter(page.Techs[q.Limit-1]).String()
		}
		return page, nil
	})
	if err != nil {
		return TechPage{}, err
	}
	page.IsCached = cached
	return page, nil
}

// TechByID asks for one tech.
type TechByID struct {
	ID string
}

// TechResult is one tech and whether it came from the cache.
type TechResult struct {
	Tech     Tech
	IsCached bool
}

// TechByIDHandler answers TechByID.
type TechByIDHandler decorator.QueryHandler[TechByID, TechResult]

type techByIDHandler struct {
	techs TechReadModel
	cache *readThrough
}

func (h techByIDHandler) Handle(ctx context.Context, q TechByID) (TechResult, error) {
	if q.ID == "" {
		return TechResult{}, apperr.InvalidField("id", "id is empty")
	}
	t, cached, err := readThroughLoad(ctx, h.cache, "tech:"+q.ID, func(ctx context.Context) (Tech, error) {
		return h.techs.TechByID(ctx, q.ID)
	})
	if err != nil {
		return TechResult{}, err
	}
	return TechResult{Tech: t, IsCached: cached}, nil
}

// NewTechQueries builds the tech queries over one shared read-through cache, so
// that concurrent misses across them are coalesced per key.
func NewTechQueries(techs TechReadModel, cache ReadModelCache, logger *slog.Logger) (ListTechsHandler, TechByIDHandler) {
	if techs == nil {
		panic("nil techs")
	}
	rt := newReadThrough(cache, logger)
	return decorator.ApplyQueryDecorators[ListTechs, TechPage](listTechsHandler{techs: techs, cache: rt}, logger),
		decorator.ApplyQueryDecorators[TechByID, TechResult](techByIDHandler{techs: techs, cache: rt}, logger)
}
