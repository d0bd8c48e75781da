package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/query"
)

type commandStatusResponse struct {
	CommandID string `json:"commandId"`
	Status    string `json:"status"`
	TechID    string `json:"techId,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (s HTTPServer) commandStatus(c echo.Context) error {
	report, err := s.app.Queries.CommandStatus.Handle(c.Request().Context(), query.CommandStatus{CommandID: c.Param("id")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, commandStatusResponse{CommandID: report.CommandID, Status: report.Status, TechID: report.TechID, Error: report.Error})
}
