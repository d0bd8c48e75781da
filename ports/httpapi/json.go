package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// decodeJSONBody reads the request body into dst, refusing what is not one JSON
// object of the expected shape. strict refuses unknown fields.
func decodeJSONBody(c echo.Context, dst any, strict bool) error {
	req := c.Request()

	mediaType, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || (mediaType != echo.MIMEApplicationJSON && !strings.HasSuffix(mediaType, "+json")) {
		return &requestError{
			status:  http.StatusUnsupportedMediaType,
			code:    "unsupported_media_type",
			message: "the body must be JSON, sent with Content-Type: application/json",
		}
	}
	body, err := readBody(req)
	if err != nil {
		return err
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("malformed_json", "", "the body must hold a single JSON object")
	}
	return nil
}

// readBody reads the request body, refusing one over MaxBodyBytes.
func readBody(req *http.Request) ([]byte, error) {
	tooLarge := &requestError{
		status:  http.StatusRequestEntityTooLarge,
		code:    "body_too_large",
		message: fmt.Sprintf("the body must not be larger than %d bytes", MaxBodyBytes),
	}
	if req.ContentLength > MaxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("malformed_body", "", "cannot read the body")
	}
	if len(body) > MaxBodyBytes {
		return nil, tooLarge
	}
	return body, nil
}

func jsonError(err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("malformed_json", "", "the body must be a JSON object")
		}
		return badRequest("invalid", typeErr.Field, fmt.Sprintf("%s must be a %s", typeErr.Field, jsonTypeName(typeErr.Type.Kind().String())))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("malformed_json", "", "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest("invalid", field, fmt.Sprintf("unknown field %q", field))
	default:
		return badRequest("malformed_json", "", "the body is not valid JSON")
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	default:
		return kind
	}
}
