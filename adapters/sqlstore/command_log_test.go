package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/testenv"
)

func TestCommandLog(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testCommandLog(t, store) })
	}
}

func testCommandLog(t *testing.T, store techStore) {
	ctx := context.Background()
	id := testenv.UniqueName("cmd-")

	if _, err := store.CommandReport(ctx, id); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("unknown command: %v", err)
	}
	accepted, err := store.Accept(ctx, id, time.Now(), nil, "")
	if err != nil || !accepted.Created || accepted.Status != command.StatusPending {
		t.Fatalf("Accept = %+v, %v", accepted, err)
	}
	accepted, err = store.Accept(ctx, id, time.Now(), nil, "")
	if err != nil || accepted.Created || accepted.Status != command.StatusPending {
		t.Fatalf("second Accept = %+v, %v", accepted, err)
	}
	if report, err := store.CommandReport(ctx, id); err != nil || report.Status != "pending" {
		t.Fatalf("report = %+v, %v", report, err)
	}

	if err := store.Forget(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CommandReport(ctx, id); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("forgotten command: %v", err)
	}

	if err := store.MarkFailed(ctx, id, "no such thing"); err != nil {
		t.Fatal(err)
	}
	report, err := store.CommandReport(ctx, id)
	if err != nil || report.Status != "failed" || report.Error != "no such thing" {
		t.Fatalf("failed report = %+v, %v", report, err)
	}
	if mention(t, store, id, testenv.UniqueName("Failed ")) {
		t.Fatal("a failed command was applied")
	}

	processed := testenv.UniqueName("cmd-")
	mention(t, store, processed, testenv.UniqueName("Processed "))
	if err := store.MarkFailed(ctx, processed, "too late"); err != nil {
		t.Fatal(err)
	}
	if report, _ := store.CommandReport(ctx, processed); report.Status != "processed" || report.Error != "" {
		t.Fatalf("a processed command was marked failed: %+v", report)
	}
	if err := store.Forget(ctx, processed); err != nil {
		t.Fatal(err)
	}
	if report, _ := store.CommandReport(ctx, processed); report.Status != "processed" {
		t.Fatalf("a processed command was forgotten: %+v", report)
	}
}

// Concurrent accepts are recorded together; each id is created once, however
// many submissions carry it.
func TestCommandLogConcurrentAccepts(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			shared := testenv.UniqueName("shared-")
			const n = 40
			var (
				wg      sync.WaitGroup
				created atomic.Int32
				errs    = make([]error, n)
			)
			for i := range n {
				wg.Go(func() {
					id := shared
					if i%2 == 1 {
						id = fmt.Sprintf("%s-own-%d", shared, i)
					}
					accepted, err := store.Accept(context.Background(), id, time.Now(), nil, "")
					if err == nil && accepted.Status != command.StatusPending {
						err = fmt.Errorf("status %s, want pending", accepted.Status)
					}
					wasCreated := accepted.Created
					if wasCreated && id == shared {
						created.Add(1)
					}
					if !wasCreated && id != shared {
						err = fmt.Errorf("%s was not created", id)
					}
					errs[i] = err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if got := created.Load(); got != 1 {
				t.Fatalf("the shared id was created %d times, want once", got)
			}
		})
	}
}
