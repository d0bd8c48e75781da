package query

import (
	"context"
	"log/slog"

	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/tech"
)

// Policy asks for the priority policy in force.
type Policy struct{}

// PolicyView is the priority policy in force, as the API shows it.
type PolicyView struct {
	MediumAt int `json:"mediumAt"`
	HighAt   int `json:"highAt"`
}

// PolicyHandler answers Policy with the process's configured thresholds:
// every worker re-ranks the stored techs to them as it starts, so they are
// what the list follows once the workers of a deployment agree.
type PolicyHandler decorator.QueryHandler[Policy, PolicyView]

type policyHandler struct{ view PolicyView }

func NewPolicyHandler(policy tech.ThresholdPolicy, logger *slog.Logger) PolicyHandler {
	return decorator.ApplyQueryDecorators[Policy, PolicyView](policyHandler{view: PolicyView{MediumAt: policy.Medium, HighAt: policy.High}}, logger)
}

func (h policyHandler) Handle(context.Context, Policy) (PolicyView, error) { return h.view, nil }
