package httpapi

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// decodeCompatBody reads the body of a compatibility route, which the
// original Express clients sent as JSON or as an HTML form
// (application/x-www-form-urlencoded). JSON goes into dst as decodeJSONBody
// reads it; a form sets each of fields, by name, to its value, and leaves a
// field it lacks nil. Unknown fields are ignored either way, as the original
// did; a field given twice is refused, since which one was meant is unknown.
// Any other media type is 415, and a form has the same size cap as JSON.
func decodeCompatBody(c echo.Context, dst any, fields map[string]**string) error {
	req := c.Request()
	mediaType, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || (mediaType != echo.MIMEApplicationForm && mediaType != echo.MIMEApplicationJSON && !strings.HasSuffix(mediaType, "+json")) {
		return &requestError{
			status:  http.StatusUnsupportedMediaType,
			code:    "unsupported_media_type",
			message: "the body must be JSON (Content-Type: application/json) or a form (Content-Type: application/x-www-form-urlencoded)",
		}
	}
	if mediaType != echo.MIMEApplicationForm {
		return decodeJSONBody(c, dst, false)
	}
	body, err := readBody(req)
	if err != nil {
		return err
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return badRequest("malformed_body", "", "the body is not valid form data (application/x-www-form-urlencoded)")
	}
	for name, field := range fields {
		given := values[name]
		switch len(given) {
		case 0:
			*field = nil
		case 1:
			value := given[0]
			*field = &value
		default:
			return badRequest("invalid", name, fmt.Sprintf("%s is given %d times; give it once", name, len(given)))
		}
	}
	return nil
}
