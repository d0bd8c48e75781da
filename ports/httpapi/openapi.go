package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPIPath is where the OpenAPI document of the API is served.
const OpenAPIPath = "/api/openapi.json"

// openAPIDocument describes every route NewHTTPHandler registers. A test in
// service holds it against the registered routes and the real answers.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument is the OpenAPI 3 document served at OpenAPIPath.
func OpenAPIDocument() []byte {
	return append([]byte(nil), openAPIDocument...)
}

func serveOpenAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
