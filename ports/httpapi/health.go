package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// readinessTimeout bounds how long /readyz waits for any one dependency.
const readinessTimeout = 2 * time.Second

type healthResponse struct {
	Status string `json:"status"`
}

type dependencyStatus struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type readinessResponse struct {
	Status       string             `json:"status"`
	Dependencies []dependencyStatus `json:"dependencies"`
	Error        *errorDetail       `json:"error,omitempty"`
}

func (s HTTPServer) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, healthResponse{Status: "ok"})
}

// readyz asks every configured dependency at once and answers 503 naming the
// first one, in configuration order, that does not answer.
func (s HTTPServer) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readinessTimeout)
	defer cancel()

	statuses := make([]dependencyStatus, len(s.checks))
	var wg sync.WaitGroup
	for i, check := range s.checks {
		wg.Go(func() {
			statuses[i] = dependencyStatus{Name: check.Name, OK: true}
			if err := check.Check(ctx); err != nil {
				statuses[i] = dependencyStatus{Name: check.Name, Error: err.Error()}
			}
		})
	}
	wg.Wait()

	resp := readinessResponse{Status: "ready", Dependencies: statuses}
	for _, st := range statuses {
		if !st.OK {
			resp.Status = "unavailable"
			resp.Error = &errorDetail{Code: "unavailable", Message: st.Name + " is not available: " + st.Error}
			return c.JSON(http.StatusServiceUnavailable, resp)
		}
	}
	return c.JSON(http.StatusOK, resp)
}
