package tech

import "time"

// TechCreated is published when a tech is mentioned for the first time.
// Its type name is its name on the wire: renaming it is a breaking change.
type TechCreated struct {
	TechID     string    `json:"techId"`
	Name       string    `json:"name"`
	Mentions   int       `json:"mentions"`
	Priority   Priority  `json:"priority"`
	CommandID  string    `json:"commandId"`
	OccurredAt time.Time `json:"occurredAt"`
}

// TechMentioned is published for every later mention of a tech.
// Its type name is its name on the wire: renaming it is a breaking change.
type TechMentioned struct {
	TechID     string    `json:"techId"`
	Name       string    `json:"name"`
	Mentions   int       `json:"mentions"`
	Priority   Priority  `json:"priority"`
	CommandID  string    `json:"commandId"`
	OccurredAt time.Time `json:"occurredAt"`
}

// Created is the event of t's first mention, caused by commandID.
func (t Tech) Created(commandID string) TechCreated {
	return TechCreated{TechID: t.ID, Name: t.Name, Mentions: t.Mentions, Priority: t.Priority, CommandID: commandID, OccurredAt: t.UpdatedAt}
}

// Mentioned is the event of a later mention of t, caused by commandID.
func (t Tech) Mentioned(commandID string) TechMentioned {
	return TechMentioned{TechID: t.ID, Name: t.Name, Mentions: t.Mentions, Priority: t.Priority, CommandID: commandID, OccurredAt: t.UpdatedAt}
}
