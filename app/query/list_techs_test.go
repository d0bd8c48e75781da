package query_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
)

// slowReadModel counts its loads and takes a while, so that concurrent misses overlap.
type slowReadModel struct {
	loads atomic.Int32
	techs []query.Tech
	delay time.Duration
}

func (m *slowReadModel) ListTechs(_ context.Context, limit int, after *query.Cursor) ([]query.Tech, error) {
	m.loads.Add(1)
	time.Sleep(m.delay)
	start := 0
	if after != nil {
		for i, t := range m.techs {
			if t.Key == after.Key {
				start = i + 1
			}
		}
	}
	end := min(start+limit, len(m.techs))
	return m.techs[start:end], nil
}

func (m *slowReadModel) TechByID(_ context.Context, id string) (query.Tech, error) {
	m.loads.Add(1)
	for _, t := range m.techs {
		if t.ID == id {
			return t, nil
		}
	}
	return query.Tech{}, apperr.NotFoundf("no tech %s", id)
}

// downCache is a cache whose backend does not answer.
type downCache struct{}

func (downCache) Get(context.Context, string) ([]byte, uint64, bool, error) {
	return nil, 0, false, errors.New("connection refused")
}
func (downCache) Set(context.Context, string, uint64, []byte) error {
	return errors.New("connection refused")
}
func (downCache) Invalidate(context.Context) error { return errors.New("connection refused") }

func techs(n int) []query.Tech {
	out := make([]query.Tech, n)
	for i := range out {
		out[i] = query.Tech{ID: fmt.Sprint(i), Name: fmt.Sprint("T", i), Key: fmt.Sprintf("t%03d", i), Mentions: 1, Priority: tech.PriorityLow}
	}
	return out
}

var discard = slog.New(slog.DiscardHandler)

func TestConcurrentMissesLoadOnce(t *testing.T) {
	t.Parallel()
	store := &slowReadModel{techs: techs(3), delay: 50 * time.Millisecond}
	list, _ := query.NewTechQueries(store, cache.NewMemory(0), discard)

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			view, err := list.Handle(context.Background(), query.ListTechs{Limit: 10})
			if page := mustPage(t, view, err); len(page.Techs) != 3 {
				t.Errorf("page = %+v", page)
			}
		})
	}
	wg.Wait()
	if got := store.loads.Load(); got != 1 {
		t.Fatalf("50 concurrent misses loaded the store %d times", got)
	}

	view, err := list.Handle(context.Background(), query.ListTechs{Limit: 10})
	if err != nil || !view.IsCached {
		t.Fatalf("the next read is not cached: %+v, %v", view, err)
	}
}

func TestCacheDownServesTheStore(t *testing.T) {
	t.Parallel()
	store := &slowReadModel{techs: techs(2)}
	list, byID := query.NewTechQueries(store, downCache{}, discard)

	view, err := list.Handle(context.Background(), query.ListTechs{Limit: 10})
	if page := mustPage(t, view, err); view.IsCached || len(page.Techs) != 2 {
		t.Fatalf("page = %+v (cached %v)", page, view.IsCached)
	}
	one, err := byID.Handle(context.Background(), query.TechByID{ID: "1"})
	if err != nil || one.IsCached {
		t.Fatalf("tech = %+v, %v", one, err)
	}
	if tech, err := one.Tech(); err != nil || tech.Name != "T1" {
		t.Fatalf("tech = %+v, %v", tech, err)
	}
}

func TestPagesAndCursors(t *testing.T) {
	t.Parallel()
	store := &slowReadModel{techs: techs(5)}
	list, _ := query.NewTechQueries(store, cache.NewMemory(0), discard)

	var got []string
	q := query.ListTechs{Limit: 2}
	for range 5 {
		view, err := list.Handle(context.Background(), q)
		page := mustPage(t, view, err)
		for _, t := range page.Techs {
			got = append(got, t.Name)
		}
		if page.NextCursor == nil {
			break
		}
		q.Cursor = *page.NextCursor
	}
	if fmt.Sprint(got) != "[T0 T1 T2 T3 T4]" {
		t.Fatalf("pages = %v", got)
	}
}

func TestListValidation(t *testing.T) {
	t.Parallel()
	list, byID := query.NewTechQueries(&slowReadModel{}, cache.NewMemory(0), discard)

	for _, q := range []query.ListTechs{{Limit: 0}, {Limit: -1}, {Limit: query.MaxListLimit + 1}} {
		_, err := list.Handle(context.Background(), q)
		if e, ok := apperr.As(err); !ok || e.Code != apperr.Invalid || e.Field != "limit" {
			t.Errorf("%+v: %v", q, err)
		}
	}
	for _, cursor := range []string{"!", "e30", query.Cursor{PriorityRank: 9, Mentions: 1, Key: "x"}.String(), query.Cursor{PriorityRank: 1, Mentions: 0, Key: "x"}.String()} {
		_, err := list.Handle(context.Background(), query.ListTechs{Limit: 1, Cursor: cursor})
		if e, ok := apperr.As(err); !ok || e.Field != "cursor" {
			t.Errorf("cursor %q: %v", cursor, err)
		}
	}
	if _, err := byID.Handle(context.Background(), query.TechByID{ID: "nope"}); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("unknown id: %v", err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := query.Cursor{PriorityRank: 3, Mentions: 12, Key: "apache kafka"}
	got, err := query.ParseCursor(c.String())
	if err != nil || got != c {
		t.Fatalf("ParseCursor(%q) = %+v, %v", c.String(), got, err)
	}
}

// gatedReadModel answers from a value the test sets, and can hold a load until
// the test lets it go.
type gatedReadModel struct {
	mu      sync.Mutex
	name    string
	entered chan struct{}
	release chan struct{}
}

func (m *gatedReadModel) ListTechs(context.Context, int, *query.Cursor) ([]query.Tech, error) {
	m.mu.Lock()
	loaded := m.name
	m.mu.Unlock()
	if m.entered != nil {
		m.entered <- struct{}{}
		<-m.release
	}
	return []query.Tech{{ID: "1", Name: loaded, Key: "k", Mentions: 1, Priority: tech.PriorityLow}}, nil
}

func (m *gatedReadModel) TechByID(context.Context, string) (query.Tech, error) {
	return query.Tech{}, apperr.NotFoundf("unused")
}

// TestStaleSetRace provokes the race step by step: a reader loads the old
// value, a write and its invalidation happen, and only then does the reader
// store what it loaded. The next reader must not get that stale value.
func TestStaleSetRace(t *testing.T) {
	t.Parallel()
	cache := cache.NewMemory(0)
	store := &gatedReadModel{name: "old", entered: make(chan struct{}), release: make(chan struct{})}
	list, _ := query.NewTechQueries(store, cache, discard)

	slowReader := make(chan query.TechPage)
	go func() {
		view, err := list.Handle(context.Background(), query.ListTechs{Limit: 10})
		page, _ := view.Page()
		if err != nil {
			page = query.TechPage{Techs: []query.Tech{{Name: err.Error()}}}
		}
		slowReader <- page
	}()
	<-store.entered // the reader has loaded "old" and not stored it yet

	store.mu.Lock()
	store.name = "new" // the write commits...
	store.mu.Unlock()
	if err := cache.Invalidate(context.Background()); err != nil { // ...and its event invalidates
		t.Fatal(err)
	}
	close(store.release) // now the slow reader stores "old"
	if page := <-slowReader; page.Techs[0].Name != "old" {
		t.Fatalf("the slow reader loaded %q", page.Techs[0].Name)
	}

	store.entered = nil
	view, err := list.Handle(context.Background(), query.ListTechs{Limit: 10})
	if page := mustPage(t, view, err); view.IsCached || page.Techs[0].Name != "new" {
		t.Fatalf("after the invalidation the list is %q (cached %v): the stale value survived", page.Techs[0].Name, view.IsCached)
	}
}

func mustPage(t *testing.T, view query.TechPageView, err error) query.TechPage {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	page, err := view.Page()
	if err != nil {
		t.Fatalf("undecodable page %s: %v", view.JSON, err)
	}
	return page
}
