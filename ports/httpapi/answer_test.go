package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
)

// assertAnswered fails unless rec is one of the ok statuses, or a 4xx with the
// API's error shape: what any input, however odd, must get.
func assertAnswered(t *testing.T, rec *httptest.ResponseRecorder, request string, ok ...int) {
	t.Helper()
	switch {
	case slices.Contains(ok, rec.Code):
	case rec.Code >= 400 && rec.Code < 500:
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s: %d without the error shape: %s", request, rec.Code, rec.Body)
		}
	default:
		t.Fatalf("%s: %d %s", request, rec.Code, rec.Body)
	}
}
