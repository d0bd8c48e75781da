package ports

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

// IdempotencyKeyHeader makes a retried POST apply once: its value becomes the
// command id.
const IdempotencyKeyHeader = "Idempotency-Key"

type createTechRequest struct {
	Name *string `json:"name"`
}

type commandAccepted struct {
	CommandID string `json:"commandId"`
	Status    string `json:"status"`
}

type techResponse struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Mentions  int    `json:"mentions"`
	Priority  string `json:"priority"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

type techListResponse struct {
	IsCached   bool           `json:"isCached"`
	Data       []techResponse `json:"data"`
	NextCursor *string        `json:"nextCursor"`
}

func (s HTTPServer) createTech(c echo.Context) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var body createTechRequest
	if err := decodeJSONBody(c, &body, true); err != nil {
		return err
	}
	if body.Name == nil {
		return badRequest("invalid", "name", "name is required")
	}

	submission, err := s.app.Commands.SubmitCreateTech.Handle(c.Request().Context(), command.SubmitCreateTech{CommandID: key, Name: *body.Name})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/commands/"+submission.CommandID)
	return c.JSON(http.StatusAccepted, commandAccepted{CommandID: submission.CommandID, Status: string(submission.Status)})
}

// idempotencyKey validates the optional Idempotency-Key header: 1 to 64
// printable ASCII characters.
func idempotencyKey(c echo.Context) (string, error) {
	values := c.Request().Header.Values(IdempotencyKeyHeader)
	if len(values) == 0 {
		return "", nil
	}
	invalid := badRequest("invalid", IdempotencyKeyHeader, IdempotencyKeyHeader+" must be 1 to 64 printable ASCII characters")
	if len(values) > 1 || len(values[0]) < 1 || len(values[0]) > 64 {
		return "", invalid
	}
	for i := 0; i < len(values[0]); i++ {
		if b := values[0][i]; b < 0x20 || b > 0x7e {
			return "", invalid
		}
	}
	return values[0], nil
}

func (s HTTPServer) listTechs(c echo.Context) error {
	q := query.ListTechs{Limit: query.DefaultListLimit, Cursor: c.QueryParam("cursor")}
	if raw := c.QueryParam("limit"); raw != "" {
		limit, err := strconv.Atoi(raw)
		if err != nil {
			return badRequest("invalid", "limit", "limit must be a whole number")
		}
		q.Limit = limit
	}

	page, err := s.app.Queries.ListTechs.Handle(c.Request().Context(), q)
	if err != nil {
		return err
	}
	resp := techListResponse{IsCached: page.IsCached, Data: make([]techResponse, len(page.Techs))}
	for i, t := range page.Techs {
		resp.Data[i] = toTechResponse(t)
	}
	if page.NextCursor != "" {
		resp.NextCursor = &page.NextCursor
	}
	return c.JSON(http.StatusOK, resp)
}

func (s HTTPServer) techByID(c echo.Context) error {
	result, err := s.app.Queries.TechByID.Handle(c.Request().Context(), query.TechByID{ID: c.Param("id")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTechResponse(result.Tech))
}

func toTechResponse(t query.Tech) techResponse {
	return techResponse{
		ID:        t.ID,
		Name:      t.Name,
		Mentions:  t.Mentions,
		Priority:  string(t.Priority),
		CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339Nano),
		UpdatedAt: t.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
}
