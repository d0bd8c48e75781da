// Package web serves techradar's page: plain HTML, CSS and JavaScript embedded
// in the binary, so that the page needs no build step and no network beyond the
// service itself. The page talks to the JSON API like any other client.
package web

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy allows nothing from anywhere but the service: the page
// loads no third-party script, style or font, and a name that somehow reached
// the DOM as markup could not run inline script.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Register adds the page at / and its files at /assets/{name}.
func Register(e *echo.Echo) {
	e.GET("/", func(c echo.Context) error { return serve(c, "index.html") })
	e.GET("/assets/:name", func(c echo.Context) error { return serve(c, c.Param("name")) })
}

func serve(c echo.Context, name string) error {
	// Only the flat list of files in static/ is served; a name with a path in it
	// is not one of them.
	if name == "" || path.Base(name) != name || !fs.ValidPath(name) {
		return echo.ErrNotFound
	}
	body, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		return echo.ErrNotFound
	}
	contentType := mime.TypeByExtension(path.Ext(name))
	if contentType == "" {
		contentType = echo.MIMEOctetStream
	}
	h := c.Response().Header()
	// The files change with the binary: revalidating every time keeps a browser
	// from mixing an old script with a new page after an upgrade.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	return c.Blob(http.StatusOK, contentType, body)
}
