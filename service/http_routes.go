package service

import "github.com/labstack/echo/v4"

// HTTPRoute is one route the HTTP server answers: a method and a path template
// in echo's syntax, such as /api/techs/:id.
type HTTPRoute struct {
	Method string
	Path   string
}

// HTTPRoutes lists the routes the HTTP server registered for the service's role,
// so that what is documented can be checked against what is served.
func (s *Service) HTTPRoutes() []HTTPRoute {
	e, ok := s.http.Handler.(*echo.Echo)
	if !ok {
		return nil
	}
	routes := make([]HTTPRoute, 0, len(e.Routes()))
	for _, r := range e.Routes() {
		routes = append(routes, HTTPRoute{Method: r.Method, Path: r.Path})
	}
	return routes
}
