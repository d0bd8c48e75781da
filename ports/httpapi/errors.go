package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/apperr"
)

// errorBody is the shape of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// statusOf maps application error codes to HTTP: the one place that does.
var statusOf = map[apperr.Code]int{
	apperr.Invalid:     http.StatusBadRequest,
	apperr.NotFound:    http.StatusNotFound,
	apperr.Unavailable: http.StatusServiceUnavailable,
	apperr.Internal:    http.StatusInternalServerError,
	// The request is well formed but cannot be processed under its key
	// (draft-ietf-httpapi-idempotency-key-header).
	apperr.IdempotencyKeyReused: http.StatusUnprocessableEntity,
}

// fieldOf names the field at fault for the errors whose field is HTTP's own.
var fieldOf = map[apperr.Code]string{
	apperr.IdempotencyKeyReused: IdempotencyKeyHeader,
}

// httpCodes names the errors that come from HTTP itself rather than from a use case.
var httpCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "body_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusServiceUnavailable:    "unavailable",
}

// requestError is a client error found while translating the request, before
// any use case ran.
type requestError struct {
	status  int
	code    string
	message string
	field   string
}

func (e *requestError) Error() string { return e.message }

func badRequest(code, field, message string) error {
	return &requestError{status: http.StatusBadRequest, code: code, field: field, message: message}
}

func (s HTTPServer) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}

	status, detail := http.StatusInternalServerError, errorDetail{Code: string(apperr.Internal), Message: "internal error"}
	var (
		reqErr  *requestError
		echoErr *echo.HTTPError
	)
	switch {
	case errors.As(err, &reqErr):
		status, detail = reqErr.status, errorDetail{Code: reqErr.code, Message: reqErr.message, Field: reqErr.field}
	case errors.As(err, &echoErr):
		status = echoErr.Code
		detail = errorDetail{Code: httpCodes[status], Message: http.StatusText(status)}
		if detail.Code == "" {
			detail.Code = "http_" + http.StatusText(status)
		}
	default:
		if appErr, ok := apperr.As(err); ok {
			status = statusOf[appErr.Code]
			detail = errorDetail{Code: string(appErr.Code), Message: appErr.Message, Field: appErr.Field}
			if field, ok := fieldOf[appErr.Code]; ok {
				detail.Field = field
			}
			if appErr.Code == apperr.Internal {
				detail.Message = "internal error"
			}
		}
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= http.StatusInternalServerError {
		s.logger.ErrorContext(c.Request().Context(), "request failed", slog.String("route", c.Path()), slog.Any("error", err))
	}

	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: detail})
}
