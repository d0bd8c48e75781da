package service

import (
	"github.com/techradar/techradar/adapters/sqlstore"
)

// newCommandResender is the worker's loop that sends again, from the command
// log of db, the commands still pending COMMAND_RESEND_AFTER after they were
// sent, counting each in the metrics.
func (s *Service) newCommandResender(db *sqlstore.DB) (*sqlstore.CommandResender, error) {
	resent, err := newResentCommandsCounter(s.metrics)
	if err != nil {
		return nil, err
	}
	return sqlstore.NewCommandResender(db, s.transport.Publisher(), sqlstore.CommandResenderConfig{
		ResendAfter: s.cfg.Resend.After,
		OnResent:    func(sqlstore.ResentCommand) { resent.Inc() },
	}, s.logger)
}
