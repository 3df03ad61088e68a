#!/usr/bin/env bash
# scripts/services.sh — a throwaway PostgreSQL and Redis on free loopback
# ports, each in its own directory, so several can run at once.
#
# Sourced by scripts/test.sh for its functions (start_postgres, start_redis,
# services_stop), or run as a command (by cmd/bench):
#
#   scripts/services.sh start DIR [durable]
#       start both servers under DIR (an existing directory that postgres
#       can enter; /tmp/... when root) and print, on stdout,
#         DATABASE_URL=postgres://…   REDIS_URL=redis://…
#       one per line. The servers keep running after the script exits.
#       `durable` keeps PostgreSQL's default durability (fsync,
#       synchronous_commit, full_page_writes on) and turns on Redis's
#       append-only file; without it both are tuned for speed as in the tests.
#   scripts/services.sh stop DIR
#       stop the servers started under DIR (DIR itself is left to the caller).
#
# Missing PostgreSQL or Redis binaries are installed with apt-get (as root,
# or through sudo). PostgreSQL refuses to run as root, so when run as root
# the cluster belongs to the `postgres` user.
#
# Settings for the functions (set them before calling):
#   TMPROOT                  directory holding pg/ and redis/ (required)
#   SERVICES_LOG_PREFIX      prefix of log lines (default services.sh)
#   SERVICES_PG_DB           database created in the cluster (default flowrun_test)
#   SERVICES_PG_DURABLE      1 keeps PostgreSQL's durability settings (default 0)
#   SERVICES_REDIS_APPENDONLY yes|no (default no)
# Results: SERVICES_PG_URL, SERVICES_REDIS_URL; PGBIN, PGDATA and
# REDIS_PIDFILE say what services_stop stops.

PGBIN=${PGBIN:-}
PGDATA=${PGDATA:-}
REDIS_PIDFILE=${REDIS_PIDFILE:-}
SERVICES_PG_URL=""
SERVICES_REDIS_URL=""

log() { printf '%s: %s\n' "${SERVICES_LOG_PREFIX:-services.sh}" "$*" >&2; }
die() { log "$*"; exit 1; }

# services_stop stops whatever start_postgres and start_redis started.
services_stop() {
	if [[ -n $PGDATA && -f $PGDATA/postmaster.pid ]]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1
	fi
	if [[ -n $REDIS_PIDFILE && -f $REDIS_PIDFILE ]]; then
		local pid
		pid=$(cat "$REDIS_PIDFILE" 2>/dev/null)
		if [[ -n $pid ]]; then
			kill "$pid" 2>/dev/null
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null
		fi
	fi
	return 0
}

# sudo_if_needed runs a command as root.
sudo_if_needed() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $* (install it by hand, or set TEST_DATABASE_URL/TEST_REDIS_URL)"
	fi
}

apt_install() {
	log "installing $* with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	# The lock timeout lets concurrent runs on a fresh machine queue up.
	sudo_if_needed apt-get -o DPkg::Lock::Timeout=600 update -qq
	sudo_if_needed apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}

# as_pg runs a command as the cluster owner: `postgres` when we are root.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		if command -v runuser >/dev/null; then
			runuser -u postgres -- "$@"
		else
			su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
		fi
	else
		"$@"
	fi
}

# random_port prints a loopback TCP port nobody listens on right now. Another
# process may still take it before we bind, so callers retry on failure.
random_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

find_pg_bin() {
	local d
	for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
		if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
			echo "$d"
			return 0
		fi
	done
	if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return 0
	fi
	return 1
}

start_postgres() {
	PGBIN=$(find_pg_bin) || { apt_install postgresql; PGBIN=$(find_pg_bin) || die "postgresql installed but initdb/pg_ctl not found"; }
	if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin postgres
	fi

	local pgroot=$TMPROOT/pg
	mkdir -p "$pgroot"
	[[ $(id -u) -eq 0 ]] && chown postgres: "$pgroot"
	PGDATA=$pgroot/data
	local sock=$pgroot/sock
	as_pg mkdir -p "$sock"

	if ! as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
		--locale=C.UTF-8 --no-sync >"$TMPROOT/initdb.log" 2>&1; then
		as_pg rm -rf "$PGDATA"
		as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
			--no-locale --no-sync >"$TMPROOT/initdb.log" 2>&1 ||
			{ cat "$TMPROOT/initdb.log" >&2; die "initdb failed"; }
	fi
	if [[ ${SERVICES_PG_DURABLE:-0} == 1 ]]; then
		# Benchmarks: PostgreSQL's own durability defaults, so a commit
		# costs what it costs in production.
		as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null <<-EOF
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$sock'
			max_connections = 200
			shared_buffers = 128MB
			track_wal_io_timing = on
			log_min_messages = warning
		EOF
	else
		# Durability is irrelevant for a throwaway cluster; speed is not.
		as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null <<-EOF
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$sock'
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			max_connections = 200
			shared_buffers = 64MB
			log_min_messages = warning
		EOF
	fi

	local port db=${SERVICES_PG_DB:-flowrun_test}
	for attempt in 1 2 3 4 5; do
		port=$(random_port)
		if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$pgroot/postgres.log" -w -t 60 -o "-p $port" start >/dev/null; then
			"$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db" ||
				die "createdb failed"
			SERVICES_PG_URL="postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"
			log "postgres $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
			return 0
		fi
		log "postgres did not start on port $port (attempt $attempt); retrying"
	done
	cat "$pgroot/postgres.log" >&2 || true
	die "could not start postgres"
}

redis_ping() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'PING\r\n' >&3
	IFS= read -r -t 2 line <&3 || { exec 3>&-; return 1; }
	exec 3>&-
	[[ $line == "+PONG"* ]]
}

start_redis() {
	command -v redis-server >/dev/null || apt_install redis-server
	command -v redis-server >/dev/null || die "redis-server installed but not on PATH"

	local dir=$TMPROOT/redis
	mkdir -p "$dir"
	REDIS_PIDFILE=$dir/redis.pid
	local port
	for attempt in 1 2 3 4 5; do
		port=$(random_port)
		rm -f "$REDIS_PIDFILE"
		redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
			--dir "$dir" --daemonize yes --pidfile "$REDIS_PIDFILE" \
			--logfile "$dir/redis.log" --save '' \
			--appendonly "${SERVICES_REDIS_APPENDONLY:-no}" || true
		for _ in $(seq 100); do
			if redis_ping "$port" 2>/dev/null; then
				SERVICES_REDIS_URL="redis://127.0.0.1:$port/0"
				log "redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//') on 127.0.0.1:$port"
				return 0
			fi
			# A daemon that failed to bind exits; stop waiting for it.
			if [[ -f $REDIS_PIDFILE ]] && ! kill -0 "$(cat "$REDIS_PIDFILE")" 2>/dev/null; then
				break
			fi
			sleep 0.05
		done
		[[ -f $REDIS_PIDFILE ]] && kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null || true
		log "redis did not start on port $port (attempt $attempt); retrying"
	done
	cat "$dir/redis.log" >&2 || true
	die "could not start redis"
}

# The command form; sourcing the file only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -Eeuo pipefail
	usage="usage: $0 start DIR [durable] | stop DIR"
	[[ $# -ge 2 ]] || die "$usage"
	TMPROOT=$2
	[[ -d $TMPROOT ]] || die "$TMPROOT is not a directory"
	case $1 in
	start)
		if [[ ${3:-} == durable ]]; then
			SERVICES_PG_DURABLE=1
			SERVICES_REDIS_APPENDONLY=${SERVICES_REDIS_APPENDONLY:-yes}
		fi
		SERVICES_PG_DB=${SERVICES_PG_DB:-flowrun}
		ok=0
		trap '[[ $ok == 1 ]] || services_stop' EXIT
		start_postgres
		start_redis
		ok=1
		echo "DATABASE_URL=$SERVICES_PG_URL"
		echo "REDIS_URL=$SERVICES_REDIS_URL"
		;;
	stop)
		set +e
		PGBIN=$(find_pg_bin)
		PGDATA=$TMPROOT/pg/data
		REDIS_PIDFILE=$TMPROOT/redis/redis.pid
		services_stop
		;;
	*) die "$usage" ;;
	esac
fi
