package service_test

import (
	"net/http"
	"testing"

	"github.com/techradar/techradar/config"
)

// curateKeyed posts a curator's command under key and returns its 202 answer.
func (r *running) curateKeyed(path, body, key string) accepted {
	r.t.Helper()
	resp := r.do(http.MethodPost, path, body, map[string]string{"Idempotency-Key": key})
	if resp.status != http.StatusAccepted {
		r.t.Fatalf("POST %s under %q: %d %s", path, key, resp.status, resp.body)
	}
	var a accepted
	resp.json(r.t, &a)
	return a
}

// In embedded mode a retirement and a merge are applied before the API
// answers, so the 202 says processed; and a retry under the key answers the
// same even once a later command made the status checks fail.
func TestEmbeddedCurationAnswersTheOutcome(t *testing.T) {
	t.Parallel()
	app := start(t, embeddedConfig(t), config.RoleServe)
	dup := app.mentioned("Postgres", 1)
	target := app.mentioned("PostgreSQL", 1)
	old := app.mentioned("CVS", 1)
	svn := app.mentioned("Subversion", 1)

	mergePath, mergeBody := "/api/techs/"+dup+"/merge", `{"into": "`+target+`"}`
	merged := app.curateKeyed(mergePath, mergeBody, "merge-once")
	if merged.Status != "processed" || merged.CommandID == "" {
		t.Fatalf("merge answer = %+v, want processed", merged)
	}
	if got := app.techByID(dup); got.Status != "merged" || got.MergedInto != target {
		t.Fatalf("after the merge: %+v", got)
	}
	// The target retired since: the merge repeated is still the same command.
	if retired := app.curate("/api/techs/"+target+"/retire", `{}`); retired.Status != "processed" {
		t.Fatalf("retire answer = %+v, want processed", retired)
	}
	if again := app.curateKeyed(mergePath, mergeBody, "merge-once"); again != merged {
		t.Fatalf("merge repeated = %+v, first %+v", again, merged)
	}

	retirePath, retireBody := "/api/techs/"+old+"/retire", `{"reason": "nobody uses it"}`
	retired := app.curateKeyed(retirePath, retireBody, "retire-once")
	if retired.Status != "processed" || retired.TechID != old {
		t.Fatalf("retire answer = %+v, want processed with the tech", retired)
	}
	// Retiring a retired tech changes nothing; merged away, the check would
	// refuse it, but the retirement repeated is the same command.
	if m := app.curate("/api/techs/"+old+"/merge", `{"into": "`+svn+`"}`); m.Status != "processed" {
		t.Fatalf("merge of the retired tech = %+v", m)
	}
	if got := app.techByID(old); got.Status != "merged" {
		t.Fatalf("after merging the retired tech: %+v", got)
	}
	if again := app.curateKeyed(retirePath, retireBody, "retire-once"); again != retired {
		t.Fatalf("retirement repeated = %+v, first %+v", again, retired)
	}
	if other := app.do(http.MethodPost, retirePath, `{"reason": "else"}`, map[string]string{"Idempotency-Key": "retire-once"}); other.status != http.StatusUnprocessableEntity {
		t.Fatalf("another body under the key: %d %s", other.status, other.body)
	}
}
