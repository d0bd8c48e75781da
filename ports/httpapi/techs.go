package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

// IdempotencyKeyHeader makes a retried POST apply once: its value names the
// command within its route family (POST /api/techs: it is the command id). A
// retry with the same request is answered as the first was; the key reused
// for another request is 422.
const IdempotencyKeyHeader = "Idempotency-Key"

type createTechRequest struct {
	Name *string `json:"name"`
}

type commandAccepted struct {
	CommandID string `json:"commandId"`
	Status    string `json:"status"`
	// TechID is told to a retry of a command processed already.
	TechID string `json:"techId,omitempty"`
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
	return c.JSON(http.StatusAccepted, commandAccepted{CommandID: submission.CommandID, Status: string(submission.Status), TechID: submission.TechID})
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

	view, err := s.app.Queries.ListTechs.Handle(c.Request().Context(), q)
	if err != nil {
		return err
	}
	prefix := `{"isCached":false,`
	if view.IsCached {
		prefix = `{"isCached":true,`
	}
	// "isCached" goes in front of the fields of the page's JSON object, which
	// is served as the read model keeps it: never decoded, nor copied.
	return writeJSON(c, []byte(prefix), view.JSON[1:])
}

// writeJSON answers 200 with parts, one JSON document, as they are. The
// length is given up front: without it net/http chunks the body, which costs
// a write to the socket more for a page of the list's size.
func writeJSON(c echo.Context, parts ...[]byte) error {
	length := 0
	for _, part := range parts {
		length += len(part)
	}
	header := c.Response().Header()
	header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	header.Set(echo.HeaderContentLength, strconv.Itoa(length))
	c.Response().WriteHeader(http.StatusOK)
	for _, part := range parts {
		if _, err := c.Response().Write(part); err != nil {
			return err
		}
	}
	return nil
}

func (s HTTPServer) techByID(c echo.Context) error {
	view, err := s.app.Queries.TechByID.Handle(c.Request().Context(), query.TechByID{ID: c.Param("id")})
	if err != nil {
		return err
	}
	return writeJSON(c, view.JSON)
}
