package service

import (
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/domain/tech"
)

// techFlow is what the tech use cases are built on.
type techFlow struct {
	techs  *sqlstore.TechRepository
	policy tech.PriorityPolicy
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
