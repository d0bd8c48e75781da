package config

// The HTTP listener's default address differs by role, so that `techradar
// api` and `techradar worker` started on one machine do not both take :8080.
const (
	// DefaultAPIAddr is where serve and api listen unless HTTP_ADDR says.
	DefaultAPIAddr = ":8080"
	// DefaultWorkerAddr is where a worker serves /healthz, /readyz and
	// /metrics unless HTTP_ADDR says.
	DefaultWorkerAddr = ":8081"
)

// HTTPAddr is the address role's HTTP listener takes: HTTP_ADDR when it is
// set, else the role's default.
func (c Config) HTTPAddr(role Role) string {
	if c.HTTP.Addr != "" {
		return c.HTTP.Addr
	}
	if role == RoleWorker {
		return DefaultWorkerAddr
	}
	return DefaultAPIAddr
}
