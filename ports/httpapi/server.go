// Package httpapi is the HTTP port: it translates HTTP requests into use-case
// calls and their results and errors into answers. It holds no rules of its own.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/internal/correlation"
	"github.com/techradar/techradar/ports/httpapi/web"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 16 << 10

// RequestIDHeader carries the correlation id in and out.
const RequestIDHeader = echo.HeaderXRequestID

// DependencyCheck is one dependency /readyz asks.
type DependencyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// HTTPServer serves the REST API.
type HTTPServer struct {
	app    app.Application
	checks []DependencyCheck
	logger *slog.Logger
}

// NewHTTPHandler builds the HTTP API on application. Only the routes of the parts
// of application that are set are registered, so an API-only process still
// answers every route while a worker process serves health checks alone.
func NewHTTPHandler(application app.Application, checks []DependencyCheck, logger *slog.Logger, opts ...HTTPOption) *echo.Echo {
	o := collectHTTPOptions(opts)
	application = o.access.limitSMSPerNumber(application, logger)
	s := HTTPServer{app: application, checks: checks, logger: logger}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = o.access.ipExtractor()
	applyHTTPOptions(e, o, logger)

	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		TargetHeader: RequestIDHeader,
		RequestIDHandler: func(c echo.Context, id string) {
			req := c.Request()
			c.SetRequest(req.WithContext(correlation.WithID(req.Context(), id)))
		},
	}))
	e.Use(s.logRequests)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: s.logPanic}))
	// Access control, in this order: CORS answers a browser's preflight before
	// anything asks it for a key; authentication finds the principal (what it
	// refuses counts against the client address's budget); the rate limit
	// counts per principal.
	limits := o.access.requestLimits(logger)
	e.Use(o.access.cors())
	if o.apiKeys != nil {
		e.Use(limits.countRefused)
		e.Use(o.apiKeys.middleware)
	}
	e.Use(limits.middleware)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	if application.Commands.SubmitCreateTech != nil {
		e.POST("/api/techs", s.createTech)
	}
	if application.Queries.ListTechs != nil {
		e.GET("/api/techs", s.listTechs)
		e.GET("/api/techs/:id", s.techByID)
		e.GET("/api/commands/:id", s.commandStatus)
		web.Register(e)
		e.GET(OpenAPIPath, serveOpenAPI)
	}
	s.addSMSRoutes(e)
	s.addCurationRoutes(e)
	compat := compatServer{app: application}
	compat.addCompatTechRoutes(e)
	compat.addCompatSMSRoutes(e)
	return e
}

func (s HTTPServer) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelDebug
		if status >= http.StatusInternalServerError {
			level = slog.LevelError
		}
		s.logger.Log(c.Request().Context(), level, "http request",
			slog.String("method", c.Request().Method),
			slog.String("route", c.Path()),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)))
		return nil
	}
}

func (s HTTPServer) logPanic(c echo.Context, err error, stack []byte) error {
	s.logger.ErrorContext(c.Request().Context(), "panic in HTTP handler", slog.Any("error", err), slog.String("stack", string(stack)))
	return err
}
