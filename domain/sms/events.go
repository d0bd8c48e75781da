package sms

import "time"

// SMSSent is published when the provider accepted an SMS. Neither event
// carries the text: events reach every subscriber, the text stays in the store.
// Its type name is its name on the wire: renaming it is a breaking change.
type SMSSent struct {
	SMSID             string    `json:"smsId"`
	Number            string    `json:"number"`
	ProviderMessageID string    `json:"providerMessageId"`
	Attempts          int       `json:"attempts"`
	OccurredAt        time.Time `json:"occurredAt"`
}

// SMSFailed is published when an SMS will never be sent: the provider refused
// it, or every attempt failed.
// Its type name is its name on the wire: renaming it is a breaking change.
type SMSFailed struct {
	SMSID      string    `json:"smsId"`
	Number     string    `json:"number"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	OccurredAt time.Time `json:"occurredAt"`
}
