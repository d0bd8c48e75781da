package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/ports/httpapi"
)

// hundredTechs is a read model of 100 techs, as in the performance targets.
type hundredTechs struct{ techs []query.Tech }

func newHundredTechs() hundredTechs {
	now := time.Now().UTC()
	techs := make([]query.Tech, 100)
	for i := range techs {
		techs[i] = query.Tech{ID: fmt.Sprintf("id-%03d", i), Name: fmt.Sprintf("Tech %03d", i), Key: fmt.Sprintf("tech %03d", i),
			Mentions: 100 - i, Priority: tech.DefaultThresholdPolicy.Priority(100 - i), CreatedAt: now, UpdatedAt: now}
	}
	return hundredTechs{techs: techs}
}

func (h hundredTechs) ListTechs(_ context.Context, limit int, _ *query.Cursor) ([]query.Tech, error) {
	return h.techs[:min(limit, len(h.techs))], nil
}

func (h hundredTechs) TechByID(context.Context, string) (query.Tech, error) {
	return query.Tech{}, apperr.NotFoundf("none")
}

// BenchmarkWarmList is the cost of GET /api/techs answered from the
// in-process cache, HTTP routing and encoding included.
func BenchmarkWarmList(b *testing.B) {
	logger := slog.New(slog.DiscardHandler)
	list, byID := query.NewTechQueries(newHundredTechs(), cache.NewMemory(0), logger)
	handler := httpapi.NewHTTPHandler(app.Application{Queries: app.Queries{ListTechs: list, TechByID: byID}}, nil, logger)

	warm := httptest.NewRecorder()
	handler.ServeHTTP(warm, httptest.NewRequest(http.MethodGet, "/api/techs", nil))
	if !strings.Contains(warm.Body.String(), `"isCached":false`) {
		b.Fatal(warm.Body.String())
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/techs", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkCreateTechRequest is the cost of decoding and validating a POST
// /api/techs, up to the command bus.
func BenchmarkCreateTechRequest(b *testing.B) {
	logger := slog.New(slog.DiscardHandler)
	handler := httpapi.NewHTTPHandler(app.Application{Commands: app.Commands{
		SubmitCreateTech: command.NewSubmitCreateTechHandler(acceptAll{}, nullBus{}, nil, logger),
	}}, nil, logger)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/techs", strings.NewReader(`{"name": "  Apache   Kafka "}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
