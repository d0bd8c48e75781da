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

// TechRetired is published when a curator retires a tech.
// Its type name is its name on the wire: renaming it is a breaking change.
type TechRetired struct {
	TechID     string    `json:"techId"`
	Name       string    `json:"name"`
	Reason     string    `json:"reason,omitempty"`
	CommandID  string    `json:"commandId"`
	OccurredAt time.Time `json:"occurredAt"`
}

// TechMerged is published when a duplicate tech is merged into another:
// Mentions and Priority are the target's after the merge.
// Its type name is its name on the wire: renaming it is a breaking change.
type TechMerged struct {
	TechID     string    `json:"techId"`
	Name       string    `json:"name"`
	IntoID     string    `json:"intoId"`
	IntoName   string    `json:"intoName"`
	Mentions   int       `json:"mentions"`
	Priority   Priority  `json:"priority"`
	CommandID  string    `json:"commandId"`
	OccurredAt time.Time `json:"occurredAt"`
}

// Retired is the event of t's retirement, caused by commandID.
func (t Tech) Retired(commandID string) TechRetired {
	return TechRetired{TechID: t.ID, Name: t.Name, Reason: t.RetiredReason, CommandID: commandID, OccurredAt: t.RetiredAt}
}

// Merged is the event of t's merge into target, caused by commandID.
func (t Tech) Merged(target Tech, commandID string) TechMerged {
	return TechMerged{
		TechID: t.ID, Name: t.Name, IntoID: target.ID, IntoName: target.Name,
		Mentions: target.Mentions, Priority: target.Priority, CommandID: commandID, OccurredAt: t.MergedAt,
	}
}

// TechsReranked is published once every stored tech's priority was computed
// again under a new policy.
// Its type name is its name on the wire: renaming it is a breaking change.
type TechsReranked struct {
	MediumAt   int       `json:"mediumAt"`
	HighAt     int       `json:"highAt"`
	Changed    int       `json:"changed"`
	OccurredAt time.Time `json:"occurredAt"`
}
