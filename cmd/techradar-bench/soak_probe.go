package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// soakProbe reads what the service and its stores hold.
type soakProbe struct {
	process     *process
	db          *sql.DB
	database    string
	redis       *redis.Client
	topicPrefix string
}

func newSoakProbe(env []string, p *process) (*soakProbe, error) {
	settings := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			settings[k] = v
		}
	}
	cfg, err := mysql.ParseDSN(settings["MYSQL_DSN"])
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	// One session, whose table sizes are read fresh: MySQL 8 caches them for
	// a day unless told not to (MariaDB has no such setting, and refuses it).
	db.SetMaxOpenConns(1)
	_, _ = db.Exec("SET SESSION information_schema_stats_expiry = 0")
	return &soakProbe{
		process: p, db: db, database: cfg.DBName,
		redis:       redis.NewClient(&redis.Options{Addr: settings["REDIS_ADDR"]}),
		topicPrefix: settings["TOPIC_PREFIX"],
	}, nil
}

func (p *soakProbe) close() {
	_ = p.db.Close()
	_ = p.redis.Close()
}

func (p *soakProbe) read(ctx context.Context) (map[string]float64, error) {
	series := map[string]float64{}
	if err := p.readMySQL(ctx, series); err != nil {
		return nil, fmt.Errorf("MySQL: %w", err)
	}
	if err := p.readRedis(ctx, series); err != nil {
		//lint:ignore ST1005 the error starts with the name of the server, Redis
		return nil, fmt.Errorf("Redis: %w", err)
	}
	if err := p.readProcess(series); err != nil {
		return nil, fmt.Errorf("the service: %w", err)
	}
	return series, nil
}

// readMySQL counts the rows of every table, and their bytes as InnoDB
// reports them (data and indexes).
func (p *soakProbe) readMySQL(ctx context.Context, series map[string]float64) error {
	rows, err := p.db.QueryContext(ctx,
		"SELECT table_name, data_length + index_length FROM information_schema.tables WHERE table_schema = ? AND table_name <> 'goose_db_version'", p.database)
	if err != nil {
		return err
	}
	tables := map[string]float64{}
	for rows.Next() {
		var (
			name  string
			bytes float64
		)
		if err := rows.Scan(&name, &bytes); err != nil {
			rows.Close()
			return err
		}
		tables[name] = bytes
	}
	rows.Close()
	var totalRows, totalBytes float64
	for name, bytes := range tables {
		var n float64
		if err := p.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+name+"`").Scan(&n); err != nil {
			return err
		}
		totalRows += n
		totalBytes += bytes
		if !strings.HasPrefix(name, "watermill_") {
			series["MySQL rows: "+name] = n
			series["MySQL bytes: "+name] = bytes
		}
	}
	series["MySQL rows: all tables"] = totalRows
	series["MySQL bytes: all tables"] = totalBytes
	return nil
}

// readRedis takes Redis's memory and the length of every stream of the
// soak's topics.
func (p *soakProbe) readRedis(ctx context.Context, series map[string]float64) error {
	info, err := p.redis.InfoMap(ctx, "memory").Result()
	if err != nil {
		return err
	}
	used, _ := strconv.ParseFloat(info["Memory"]["used_memory"], 64)
	series["Redis bytes: used_memory"] = used
	var entries float64
	iter := p.redis.Scan(ctx, 0, p.topicPrefix+"*", 1000).Iterator()
	for scanned := 0; iter.Next(ctx) && scanned < 10_000; scanned++ {
		if kind, err := p.redis.Type(ctx, iter.Val()).Result(); err != nil || kind != "stream" {
			continue
		}
		n, err := p.redis.XLen(ctx, iter.Val()).Result()
		if err != nil {
			return err
		}
		entries += float64(n)
	}
	series["Redis stream entries: all topics"] = entries
	return iter.Err()
}

// readProcess takes the service's resident memory, goroutines and open files.
func (p *soakProbe) readProcess(series map[string]float64) error {
	pid := p.process.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			series["service bytes: resident"] = kb * 1024
		}
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return err
	}
	series["service open files"] = float64(len(fds))
	metrics, err := get(p.process.base + "/metrics")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(metrics), "\n") {
		if rest, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			series["service goroutines"], _ = strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return nil
}
