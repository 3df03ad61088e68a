package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func machineInfo() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadavg(), ClockTicks: clkTck}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemTotalMB = kb / 1024
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

var pgSettingNames = []string{
	"server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
	"shared_buffers", "max_connections", "wal_buffers", "commit_delay", "max_wal_size",
	"checkpoint_timeout", "work_mem",
}

func postgresInfo(ctx context.Context, pool *pgxpool.Pool) (Server, error) {
	s := Server{Settings: map[string]string{}}
	rows, err := pool.Query(ctx, `SELECT n, current_setting(n) FROM unnest($1::text[]) AS n`, pgSettingNames)
	if err != nil {
		return s, fmt.Errorf("postgres settings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return s, err
		}
		if k == "server_version" {
			s.Version = v
			continue
		}
		s.Settings[k] = v
	}
	return s, rows.Err()
}

func redisInfo(ctx context.Context, u string) (Server, error) {
	s := Server{Settings: map[string]string{}}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return s, err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return s, fmt.Errorf("redis info: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			s.Version = v
		}
	}
	for _, k := range []string{"appendonly", "appendfsync", "save", "maxmemory"} {
		if m, err := c.ConfigGet(ctx, k).Result(); err == nil {
			s.Settings[k] = m[k]
		}
	}
	return s, nil
}
