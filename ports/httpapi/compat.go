package httpapi

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

// compatServer serves the routes of the original services, kept so that
// their clients work unchanged. They ride on the same use cases as /api.
type compatServer struct {
	app app.Application
}

// The routes of the original Express API.

func (s compatServer) addCompatTechRoutes(e *echo.Echo) {
	if s.app.Commands.SubmitCreateTech != nil {
		e.POST("/create", s.compatCreate)
	}
	if s.app.Queries.ListTechs != nil {
		e.GET("/get", s.compatList)
	}
}

type compatCreateRequest struct {
	Text *string `json:"text"`
}

type compatMessage struct {
	Message string `json:"message"`
}

type compatListResponse struct {
	IsCached bool             `json:"isCached"`
	Data     []compatListItem `json:"data"`
}

type compatListItem struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// compatListMaxPages bounds the pages /get walks: it answers the whole list, as
// the original did, up to MaxListLimit × compatListMaxPages techs.
const compatListMaxPages = 200

func (s compatServer) compatCreate(c echo.Context) error {
	var body compatCreateRequest
	if err := decodeCompatBody(c, &body, map[string]**string{"text": &body.Text}); err != nil {
		return err
	}
	if body.Text == nil {
		return badRequest("invalid", "text", "text is required")
	}
	_, err := s.app.Commands.SubmitCreateTech.Handle(c.Request().Context(), command.SubmitCreateTech{Name: *body.Text})
	if appErr, ok := apperr.As(err); ok && appErr.Field == "name" {
		return badRequest("invalid", "text", "text: "+appErr.Message)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, compatMessage{Message: "Tech List created successfully"})
}

func (s compatServer) compatList(c echo.Context) error {
	resp := compatListResponse{IsCached: true, Data: []compatListItem{}}
	q := query.ListTechs{Limit: query.MaxListLimit}
	for range compatListMaxPages {
		view, err := s.app.Queries.ListTechs.Handle(c.Request().Context(), q)
		if err != nil {
			return err
		}
		page, err := view.Page()
		if err != nil {
			return err
		}
		resp.IsCached = resp.IsCached && view.IsCached
		for _, t := range page.Techs {
			resp.Data = append(resp.Data, compatListItem{ID: t.ID, Text: fmt.Sprintf("%s - priority (%s)", t.Name, t.Priority)})
		}
		if page.NextCursor == nil {
			break
		}
		q.Cursor = *page.NextCursor
	}
	return c.JSON(http.StatusOK, resp)
}
