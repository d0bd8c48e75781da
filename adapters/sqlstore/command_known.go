package sqlstore

import (
	"context"

	"github.com/techradar/techradar/app/command"
)

var _ command.CurationCommandLog = (*CommandLog)(nil)

// KnownCommand tells whether the log holds a command under id, read on the
// writer so that a command accepted a moment ago is seen.
func (l *CommandLog) KnownCommand(ctx context.Context, id string) (bool, error) {
	known, err := acceptedCommands(ctx, l.db.writer(), []string{id})
	if err != nil {
		return false, err
	}
	_, ok := known[id]
	return ok, nil
}
