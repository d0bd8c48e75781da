package service

import (
	"log/slog"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/domain/tech"
)

// techFlow is what the tech use cases are built on.
type techFlow struct {
	techs  *sqlstore.TechRepository
	policy tech.ThresholdPolicy
}

// newTechFlow builds the tech repository on db, and the priority policy
// PRIORITY_MEDIUM_AT and PRIORITY_HIGH_AT set.
func newTechFlow(db *sqlstore.DB, commands *sqlstore.CommandLog, outbox *sqlstore.Outbox, cfg config.PriorityConfig) (techFlow, error) {
	policy, err := tech.NewThresholdPolicy(cfg.MediumAt, cfg.HighAt)
	if err != nil {
		return techFlow{}, err
	}
	techs, err := sqlstore.NewTechRepository(db, commands, outbox)
	if err != nil {
		return techFlow{}, err
	}
	return techFlow{techs: techs, policy: policy}, nil
}

// rerankWorker re-ranks every stored tech once, as the worker starts, when
// the stored priorities were computed under another policy than the one
// configured; it ends when they follow it.
func rerankWorker(flow techFlow, logger *slog.Logger) backgroundWorker {
	return backgroundWorker{name: "priority re-ranking", run: command.NewRerankTechs(flow.techs, flow.policy, nil, logger).Run}
}
