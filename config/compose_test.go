package config_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/go-sql-driver/mysql"

	"github.com/techradar/techradar/config"
)

// The repository's deployment files, from this package's directory.
const (
	composeFile    = "../docker-compose.yml"
	envExampleFile = "../.env.example"
	dockerfile     = "../Dockerfile"
)

// composeOnlyVariables are read by docker-compose.yml itself, never by
// techradar, yet reach the containers through env_file.
var composeOnlyVariables = []string{"HTTP_PORT"}

// TestComposeFileRunsValidServices loads docker-compose.yml as docker compose
// would (no engine needed), once without .env and once per transport that
// .env.example offers, and checks that the api and worker services run
// techradar's roles with an environment techradar accepts, wait for every
// backend that environment names, and that the worker can be scaled.
func TestComposeFileRunsValidServices(t *testing.T) {
	example, err := os.ReadFile(envExampleFile)
	if err != nil {
		t.Fatal(err)
	}
	transports := offeredTransports(t, string(example))
	if !slices.Contains(transports, config.TransportRedisStream) || len(transports) < 3 {
		t.Fatalf(".env.example offers the transports %v; expected redisstream, kafka and sql", transports)
	}

	scenarios := map[string]string{"no .env": ""}
	for _, transport := range transports {
		scenarios[".env.example with TRANSPORT="+transport] = withTransport(string(example), transport)
	}
	known := knownVariables(t)
	imageEnv := dockerfileEnv(t)
	for name, dotEnv := range scenarios {
		t.Run(name, func(t *testing.T) {
			project := loadCompose(t, dotEnv)
			for _, role := range []config.Role{config.RoleAPI, config.RoleWorker} {
				service, ok := project.Services[string(role)]
				if !ok {
					t.Fatalf("docker-compose.yml has no %s service", role)
				}
				checkRunsTechradar(t, project, service, role)
				env := serviceEnv(t, service, imageEnv, known)
				cfg := configFrom(t, env)
				if err := cfg.Validate(role); err != nil {
					t.Errorf("%s: techradar would refuse the environment compose gives it:\n%v", role, err)
				}
				checkDependsOnBackends(t, project, service, cfg)
			}
			checkScalable(t, project.Services[string(config.RoleWorker)])
		})
	}
}

// offeredTransports are the TRANSPORT values .env.example sets or shows in a
// comment.
func offeredTransports(t *testing.T, example string) []string {
	t.Helper()
	var transports []string
	for _, m := range regexp.MustCompile(`(?m)^[#\s]*TRANSPORT=(\S+)`).FindAllStringSubmatch(example, -1) {
		if !slices.Contains(transports, m[1]) {
			transports = append(transports, m[1])
		}
	}
	return transports
}

// withTransport is the .env file text with TRANSPORT set to transport.
func withTransport(example, transport string) string {
	return regexp.MustCompile(`(?m)^TRANSPORT=.*$`).ReplaceAllString(example, "TRANSPORT="+transport)
}

// loadCompose loads docker-compose.yml from a copy in a directory of its own,
// beside dotEnv as its .env (none if empty), so that neither a developer's .env
// nor this process's environment takes part.
func loadCompose(t *testing.T, dotEnv string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	content, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	var envFiles []string
	if dotEnv != "" {
		envFiles = []string{filepath.Join(dir, ".env")}
		if err := os.WriteFile(envFiles[0], []byte(dotEnv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	options, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithName("techradar"), cli.WithWorkingDirectory(dir), cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	if err != nil {
		t.Fatal(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return project
}

// checkRunsTechradar: the service builds this repository's image, whose entry
// point is the techradar binary, and runs the role's command.
func checkRunsTechradar(t *testing.T, project *types.Project, service types.ServiceConfig, role config.Role) {
	t.Helper()
	if service.Build == nil || filepath.Clean(service.Build.Context) != filepath.Clean(project.WorkingDir) {
		t.Errorf("%s: does not build the image from the repository's Dockerfile (build: %+v)", role, service.Build)
	}
	if len(service.Entrypoint) != 0 {
		t.Errorf("%s: replaces the image's entry point with %v", role, service.Entrypoint)
	}
	if !slices.Equal(service.Command, types.ShellCommand{string(role)}) {
		t.Errorf("%s: runs %v; want the command [%s]", role, service.Command, role)
	}
}

// dockerfileEnv is what the image's ENV lines set: the environment under the
// compose file's.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	entrypoint := false
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if rest, ok := strings.CutPrefix(line, "ENV "); ok {
			if k, v, ok := strings.Cut(rest, "="); ok {
				env[k] = v
			}
		}
		if strings.HasPrefix(line, "ENTRYPOINT ") && strings.Contains(line, "/techradar") {
			entrypoint = true
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	if !entrypoint {
		t.Errorf("the Dockerfile's ENTRYPOINT is not the techradar binary")
	}
	return env
}

// knownVariables are the names of every techradar variable.
func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	var c config.Config
	parser, err := kong.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, flag := range parser.Model.Flags {
		for _, env := range flag.Tag.Envs {
			known[env] = true
		}
	}
	return known
}

// serviceEnv is the environment the service's container gets, the image's
// under the compose file's. A variable techradar does not know is a typo that
// would be ignored, and fails the test.
func serviceEnv(t *testing.T, service types.ServiceConfig, imageEnv map[string]string, known map[string]bool) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range imageEnv {
		env[k] = v
	}
	for k, v := range service.Environment {
		if v == nil {
			continue // named without a value and unset: not passed
		}
		switch {
		case known[k]:
			env[k] = *v
		case slices.Contains(composeOnlyVariables, k):
			// read by compose, not by techradar
		default:
			t.Errorf("%s: sets %s, which techradar does not read", service.Name, k)
		}
	}
	return env
}

// configFrom parses env as the command would, with nothing else in the
// environment.
func configFrom(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	var c config.Config
	parser, err := kong.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range parser.Model.Flags {
		for _, name := range flag.Tag.Envs {
			t.Setenv(name, "") // restored after the test
			if err := os.Unsetenv(name); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if _, err := parser.Parse(nil); err != nil {
		t.Fatalf("the environment does not parse: %v", err)
	}
	return c
}

// checkDependsOnBackends: the service waits until every backend its
// configuration uses is healthy, reaching it by its compose service name.
func checkDependsOnBackends(t *testing.T, project *types.Project, service types.ServiceConfig, cfg config.Config) {
	t.Helper()
	var hosts []string
	if cfg.Store == config.StoreMySQL || cfg.Transport == config.TransportSQL {
		dsn, err := mysql.ParseDSN(cfg.MySQL.DSN)
		if err != nil {
			t.Fatalf("%s: MYSQL_DSN: %v", service.Name, err)
		}
		hosts = append(hosts, hostOf(t, dsn.Addr))
	}
	if cfg.Cache == config.CacheRedis || cfg.Transport == config.TransportRedisStream {
		hosts = append(hosts, hostOf(t, cfg.Redis.Addr))
	}
	if cfg.Transport == config.TransportKafka {
		for _, broker := range cfg.Kafka.Brokers {
			hosts = append(hosts, hostOf(t, broker))
		}
	}
	for _, host := range hosts {
		dependency, ok := service.DependsOn[host]
		if !ok {
			t.Errorf("%s: reaches %s but does not depend on it", service.Name, host)
			continue
		}
		if dependency.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: starts when %s is %s; want %s", service.Name, host, dependency.Condition, types.ServiceConditionHealthy)
		}
		if backend, ok := project.Services[host]; !ok || backend.HealthCheck == nil || backend.HealthCheck.Disable {
			t.Errorf("%s: depends on %s, which is no service with a health check", service.Name, host)
		}
	}
}

func hostOf(t *testing.T, addr string) string {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return host
}

// checkScalable: `docker compose up --scale worker=N` needs N containers that
// do not clash, so no fixed name and no published host port.
func checkScalable(t *testing.T, worker types.ServiceConfig) {
	t.Helper()
	if worker.ContainerName != "" {
		t.Errorf("worker: container_name %q allows one container only", worker.ContainerName)
	}
	for _, port := range worker.Ports {
		if port.Published != "" {
			t.Errorf("worker: publishes host port %s, which a second worker could not bind", port.Published)
		}
	}
}
