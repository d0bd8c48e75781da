package httpapi

import (
	"bufio"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

// addCurationRoutes registers the curator's routes (retire, merge) and the
// priority policy, when their use cases are set.
func (s HTTPServer) addCurationRoutes(e *echo.Echo) {
	if s.app.Commands.SubmitRetireTech != nil {
		e.POST("/api/techs/:id/retire", s.retireTech)
	}
	if s.app.Commands.SubmitMergeTech != nil {
		e.POST("/api/techs/:id/merge", s.mergeTech)
	}
	if s.app.Queries.Policy != nil {
		e.GET("/api/policy", s.policy)
	}
}

type retireTechRequest struct {
	Reason *string `json:"reason"`
}

type mergeTechRequest struct {
	Into *string `json:"into"`
}

// retireTech accepts a retirement. The body is optional: none, or an empty
// one, retires without a reason.
func (s HTTPServer) retireTech(c echo.Context) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var body retireTechRequest
	if hasBody(c.Request()) {
		if err := decodeJSONBody(c, &body, true); err != nil {
			return err
		}
	}
	req := command.SubmitRetireTech{IdempotencyKey: key, TechID: c.Param("id")}
	if body.Reason != nil {
		req.Reason = *body.Reason
	}
	submission, err := s.app.Commands.SubmitRetireTech.Handle(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return accepted(c, submission)
}

func (s HTTPServer) mergeTech(c echo.Context) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var body mergeTechRequest
	if err := decodeJSONBody(c, &body, true); err != nil {
		return err
	}
	if body.Into == nil {
		return badRequest("invalid", "into", "into is required: the id of the tech to merge into")
	}
	submission, err := s.app.Commands.SubmitMergeTech.Handle(c.Request().Context(),
		command.SubmitMergeTech{IdempotencyKey: key, TechID: c.Param("id"), IntoID: *body.Into})
	if err != nil {
		return err
	}
	return accepted(c, submission)
}

func (s HTTPServer) policy(c echo.Context) error {
	view, err := s.app.Queries.Policy.Handle(c.Request().Context(), query.Policy{})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// hasBody tells a request that sent a body from one that sent none; a body
// of unknown length is peeked at, and put back whole.
func hasBody(req *http.Request) bool {
	if req.ContentLength >= 0 || req.Body == nil || req.Body == http.NoBody {
		return req.ContentLength > 0
	}
	peeked := bufio.NewReaderSize(req.Body, 16)
	_, err := peeked.Peek(1)
	req.Body = struct {
		io.Reader
		io.Closer
	}{peeked, req.Body}
	return err == nil
}

// accepted is the 202 of a command accepted.
func accepted(c echo.Context, submission command.Submission) error {
	c.Response().Header().Set(echo.HeaderLocation, "/api/commands/"+submission.CommandID)
	return c.JSON(http.StatusAccepted, commandAccepted{CommandID: submission.CommandID, Status: string(submission.Status), TechID: submission.TechID})
}
