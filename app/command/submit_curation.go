package command

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	"github.com/google/uuid"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/tech"
)

// TechStatusReader tells a curator's submission what became of the techs it
// names, so that a mistake the store can see at once is answered at once
// instead of failing the command later.
type TechStatusReader interface {
	// TechStatus is the status of the tech with id, or an apperr.NotFound error.
	TechStatus(ctx context.Context, id string) (tech.Status, error)
}

// SubmitRetireTech is a curator's request to retire a tech. IdempotencyKey,
// when set, names the command among RetireTech commands.
type SubmitRetireTech struct {
	IdempotencyKey string
	TechID         string
	Reason         string
}

// SubmitMergeTech is a curator's request to merge the duplicate TechID into
// IntoID.
type SubmitMergeTech struct {
	IdempotencyKey string
	TechID         string
	IntoID         string
}

// SubmitRetireTechHandler validates a retirement, records it as pending and
// sends RetireTech.
type SubmitRetireTechHandler decorator.SubmissionHandler[SubmitRetireTech, Submission]

// SubmitMergeTechHandler validates a merge, records it as pending and sends
// MergeTech.
type SubmitMergeTechHandler decorator.SubmissionHandler[SubmitMergeTech, Submission]

// CurationCommandLog is the command log as a curator's submission needs it:
// a request repeated under its idempotency key is answered from the log
// before the techs' statuses, which the first request may have changed, are
// checked again.
type CurationCommandLog interface {
	CommandLog
	// KnownCommand tells whether the log holds a command under id.
	KnownCommand(ctx context.Context, id string) (bool, error)
}

type curationSubmitter struct {
	techs    TechStatusReader
	commands CurationCommandLog
	bus      CommandBus
	now      func() time.Time
	// outcomes is set when the bus delivers before Send returns.
	outcomes CommandOutcomes
}

// NewCurationSubmissions builds the submissions of RetireTech and MergeTech;
// now may be nil for the wall clock. With AnswerAfterDelivery they answer
// what became of the command, as the other submissions do.
func NewCurationSubmissions(techs TechStatusReader, commands CurationCommandLog, bus CommandBus, now func() time.Time, logger *slog.Logger, opts ...SubmitOption) (SubmitRetireTechHandler, SubmitMergeTechHandler) {
	switch {
	case techs == nil:
		panic("nil techs")
	case commands == nil:
		panic("nil commands")
	case bus == nil:
		panic("nil bus")
	case logger == nil:
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	s := curationSubmitter{techs: techs, commands: commands, bus: bus, now: now, outcomes: applySubmitOptions(opts).commands}
	return decorator.ApplySubmissionDecorators[SubmitRetireTech, Submission](submitRetireTechHandler{s}, logger),
		decorator.ApplySubmissionDecorators[SubmitMergeTech, Submission](submitMergeTechHandler{s}, logger)
}

type submitRetireTechHandler struct{ curationSubmitter }

func (h submitRetireTechHandler) Handle(ctx context.Context, req SubmitRetireTech) (Submission, error) {
	reason, err := tech.ParseRetireReason(req.Reason)
	if err != nil {
		return Submission{}, apperr.InvalidField("reason", "%s", err.Error())
	}
	id, known, err := h.commandID(ctx, RetireTech{}, req.IdempotencyKey)
	if err != nil {
		return Submission{}, err
	}
	if !known {
		status, err := h.status(ctx, req.TechID, "id")
		if err != nil {
			return Submission{}, err
		}
		if status == tech.StatusMerged {
			return Submission{}, apperr.InvalidField("id", "%s", tech.ErrRetireMerged.Error())
		}
	}
	now := h.now().UTC()
	cmd := RetireTech{CommandID: id, TechID: req.TechID, Reason: reason, RequestedAt: now}
	return h.submit(ctx, id, now, cmd, requestFingerprint(cmd, req.TechID, reason))
}

type submitMergeTechHandler struct{ curationSubmitter }

func (h submitMergeTechHandler) Handle(ctx context.Context, req SubmitMergeTech) (Submission, error) {
	if req.IntoID == "" {
		return Submission{}, apperr.InvalidField("into", "into is required: the id of the tech to merge into")
	}
	if req.IntoID == req.TechID {
		return Submission{}, apperr.InvalidField("into", "%s", tech.ErrMergeIntoItself.Error())
	}
	id, known, err := h.commandID(ctx, MergeTech{}, req.IdempotencyKey)
	if err != nil {
		return Submission{}, err
	}
	if !known {
		if err := h.checkMerge(ctx, req); err != nil {
			return Submission{}, err
		}
	}
	now := h.now().UTC()
	cmd := MergeTech{CommandID: id, TechID: req.TechID, IntoID: req.IntoID, RequestedAt: now}
	return h.submit(ctx, id, now, cmd, requestFingerprint(cmd, req.TechID, req.IntoID))
}

// checkMerge refuses at once a merge the store can see is wrong.
func (h curationSubmitter) checkMerge(ctx context.Context, req SubmitMergeTech) error {
	// A duplicate merged already is left to the handler: into the same tech
	// again it changes nothing, elsewhere the command fails saying so.
	if _, err := h.status(ctx, req.TechID, "id"); err != nil {
		return err
	}
	into, err := h.status(ctx, req.IntoID, "into")
	if err != nil {
		if apperr.CodeOf(err) == apperr.NotFound {
			return apperr.InvalidField("into", "no tech with id %q to merge into", req.IntoID)
		}
		return err
	}
	if into != tech.StatusActive {
		return apperr.InvalidField("into", "the tech to merge into is %s", into)
	}
	return nil
}

// commandID is the id of the command of cmd's type the request names, and
// whether the log holds it already: a request repeated under its key is then
// answered as the first one was (or refused as a reused key) by submit,
// without the status checks, which the first command may have made fail.
func (h curationSubmitter) commandID(ctx context.Context, cmd any, key string) (id string, known bool, err error) {
	key = clientScopedKey(ctx, key)
	if id, err = commandIDFor(cmd, key); err != nil || key == "" {
		return id, false, err
	}
	known, err = h.commands.KnownCommand(ctx, id)
	if err != nil {
		return "", false, apperr.Unavailablef(err, "cannot read the command log")
	}
	return id, known, nil
}

// status reads the status of the tech id names; an unknown one is NotFound
// (404: the path names it).
func (h curationSubmitter) status(ctx context.Context, id, field string) (tech.Status, error) {
	if id == "" {
		return "", apperr.InvalidField(field, "%s is empty", field)
	}
	status, err := h.techs.TechStatus(ctx, id)
	if err != nil && apperr.CodeOf(err) != apperr.NotFound {
		return "", apperr.Unavailablef(err, "cannot read the tech")
	}
	return status, err
}

// submit records and sends cmd, as every command on techs is.
func (h curationSubmitter) submit(ctx context.Context, id string, now time.Time, cmd any, request string) (Submission, error) {
	// Recorded before it is sent, with or without a key: curations are rare,
	// and sending first saves a write where commands come in bulk, mentions.
	return submitTechCommand(ctx, h.commands, h.bus, h.outcomes, id, false, now, cmd, request)
}

// curationKeys scopes the ids derived from idempotency keys.
var curationKeys = uuid.MustParse("0b6f4c1a-3e52-4d8b-9c7e-5a2d1f8e6b30")

// commandIDFor is the id of a command of cmd's type: derived from the
// client's idempotency key, so that a key names one command per type, or a
// new one without a key.
func commandIDFor(cmd any, key string) (string, error) {
	if key == "" {
		return newCommandID()
	}
	return uuid.NewSHA1(curationKeys, []byte(reflect.TypeOf(cmd).Name()+"\x00"+key)).String(), nil
}
