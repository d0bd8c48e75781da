package query

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"

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

// TechPage is one page of the tech list; NextCursor is nil on the last page.
// Its JSON is what the API serves, less isCached.
type TechPage struct {
	Techs      []Tech  `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// TechPageView is a page as read: encoded, and whether it came from the cache.
type TechPageView struct {
	// JSON is the TechPage, encoded.
	JSON     []byte
	IsCached bool
}

// Page decodes the view.
func (v TechPageView) Page() (TechPage, error) {
	var p TechPage
	err := json.Unmarshal(v.JSON, &p)
	return p, err
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
type ListTechsHandler decorator.QueryHandler[ListTechs, TechPageView]

type listTechsHandler struct {
	techs TechReadModel
	cache *readThrough
}

func (h listTechsHandler) Handle(ctx context.Context, q ListTechs) (TechPageView, error) {
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return TechPageView{}, apperr.InvalidField("limit", "limit must be between 1 and %d", MaxListLimit)
	}
	var after *Cursor
	if q.Cursor != "" {
		c, err := ParseCursor(q.Cursor)
		if err != nil {
			return TechPageView{}, err
		}
		after = &c
	}

	key := "list:" + strconv.Itoa(q.Limit) + ":" + q.Cursor
	encoded, cached, err := readThroughLoad(ctx, h.cache, key, func(ctx context.Context) (TechPage, error) {
		// One more than asked tells whether a next page exists.
		techs, err := h.techs.ListTechs(ctx, q.Limit+1, after)
		if err != nil {
			return TechPage{}, err
		}
		page := TechPage{Techs: techs}
		if page.Techs == nil {
			page.Techs = []Tech{}
		}
		if len(techs) > q.Limit {
			page.Techs = techs[:q.Limit]
			next := CursorAfter(page.Techs[q.Limit-1]).String()
			page.NextCursor = &next
		}
		return page, nil
	})
	if err != nil {
		return TechPageView{}, err
	}
	return TechPageView{JSON: encoded, IsCached: cached}, nil
}

// TechByID asks for one tech.
type TechByID struct {
	ID string
}

// TechView is one tech as read: its JSON, and whether it came from the cache.
type TechView struct {
	JSON     []byte
	IsCached bool
}

// Tech decodes the view.
func (v TechView) Tech() (Tech, error) {
	var t Tech
	err := json.Unmarshal(v.JSON, &t)
	return t, err
}

// TechByIDHandler answers TechByID.
type TechByIDHandler decorator.QueryHandler[TechByID, TechView]

type techByIDHandler struct {
	techs TechReadModel
	cache *readThrough
}

func (h techByIDHandler) Handle(ctx context.Context, q TechByID) (TechView, error) {
	if q.ID == "" {
		return TechView{}, apperr.InvalidField("id", "id is empty")
	}
	encoded, cached, err := readThroughLoad(ctx, h.cache, "tech:"+q.ID, func(ctx context.Context) (Tech, error) {
		return h.techs.TechByID(ctx, q.ID)
	})
	if err != nil {
		return TechView{}, err
	}
	return TechView{JSON: encoded, IsCached: cached}, nil
}

// NewTechQueries builds the tech queries over one shared read-through cache, so
// that concurrent misses across them are coalesced per key.
func NewTechQueries(techs TechReadModel, cache ReadModelCache, logger *slog.Logger) (ListTechsHandler, TechByIDHandler) {
	if techs == nil {
		panic("nil techs")
	}
	rt := newReadThrough(cache, logger)
	return decorator.ApplyQueryDecorators[ListTechs, TechPageView](listTechsHandler{techs: techs, cache: rt}, logger),
		decorator.ApplyQueryDecorators[TechByID, TechView](techByIDHandler{techs: techs, cache: rt}, logger)
}
