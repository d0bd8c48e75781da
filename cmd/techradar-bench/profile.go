package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profileMargin is how much shorter than the load a CPU profile is, so that
// it ends before wrk does: what it covers is the load, not the quiet after.
const profileMargin = time.Second

// adminAddr is where a service serves its profiles (ADMIN_ADDR) when the
// bench is asked for them, on loopback; "" when it is not.
func (b *bench) adminAddr() (string, error) {
	if b.profileDir == "" {
		return "", nil
	}
	return freeAddr()
}

// profileDuring starts a CPU profile of the service for a load of length d
// and returns a function that waits for it and writes it to the bench's
// profile directory as name.pprof. It covers the accepting: the handlers'
// work on the backlog left when wrk stops, which the end-to-end figure
// counts too, is not in it. Without a profile directory, or for a load too
// short to profile, it does nothing. A profile that fails is reported, no
// file is left under its name, and the figures go on: they do not depend on
// it.
func (b *bench) profileDuring(p *process, d time.Duration, name string) (wait func()) {
	seconds := int((d - profileMargin).Seconds())
	if b.profileDir == "" || p.admin == "" || seconds < 1 {
		return func() {}
	}
	path := filepath.Join(b.profileDir, name+".pprof")
	// A file an earlier run left must not pass for this run's.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "bench: no profile %s: %v\n", path, err)
		return func() {}
	}
	done := make(chan error, 1)
	go func() { done <- fetchProfile(p.admin, seconds, path) }()
	return func() {
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "bench: no profile %s: %v\n", path, err)
		}
	}
}

// fetchProfile asks the service's admin listener for a CPU profile of
// seconds and writes it to path, whole or not at all.
func fetchProfile(admin string, seconds int, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// pprof says in its body why it could not profile.
		why, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(why))
	}
	partial := path + ".partial"
	f, err := os.Create(partial)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(partial, path)
	}
	if err != nil {
		_ = os.Remove(partial)
	}
	return err
}
