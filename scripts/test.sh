#!/usr/bin/env bash
# scripts/test.sh — the project's single test command.
#
# Starts a throwaway PostgreSQL and Redis on free loopback ports (each in its
# own temp dir, so several runs can go at once), exports TEST_DATABASE_URL and
# TEST_REDIS_URL, runs `go test -race -count=1 ./...` plus any extra arguments,
# then stops both servers and removes the temp dir. The exit code is go test's.
#
#   scripts/test.sh                      # whole suite
#   scripts/test.sh -run TestStore -v    # extra go test flags
#   scripts/test.sh ./internal/repo/...  # given packages replace ./...
#
# If TEST_DATABASE_URL (or TEST_REDIS_URL) is already set, that server is used
# and none is started. Missing PostgreSQL or Redis binaries are installed with
# apt-get (as root, or through sudo). PostgreSQL refuses to run as root, so
# when run as root the cluster belongs to the `postgres` user.
#
# Environment knobs:
#   FLOWRUN_FUZZTIME               run every fuzzer this long after a green full run
#                                  (default 3s when CI=true, otherwise off)
#   FLOWRUN_TEST_REDIS_APPENDONLY  yes|no (default no)
#   FLOWRUN_TEST_KEEP              1 keeps the temp dir (logs) after the run
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

TMPROOT=""
PGBIN=""
PGDATA=""
REDIS_PIDFILE=""

cleanup() {
	local rc=$?
	set +e
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
	if [[ -n $TMPROOT && -d $TMPROOT ]]; then
		if [[ ${FLOWRUN_TEST_KEEP:-} == 1 ]]; then
			log "kept $TMPROOT"
		else
			rm -rf "$TMPROOT"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

	local port
	for attempt in 1 2 3 4 5; do
		port=$(random_port)
		if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$pgroot/postgres.log" -w -t 60 -o "-p $port" start >/dev/null; then
			"$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres flowrun_test ||
				die "createdb failed"
			export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/flowrun_test?sslmode=disable"
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
			--appendonly "${FLOWRUN_TEST_REDIS_APPENDONLY:-no}" || true
		for _ in $(seq 100); do
			if redis_ping "$port" 2>/dev/null; then
				export TEST_REDIS_URL="redis://127.0.0.1:$port/0"
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

# As root the cluster runs as `postgres`, which must reach the temp dir: use
# /tmp rather than a TMPDIR that may sit under /root. The path stays short
# because PostgreSQL's unix socket lives in it.
tmpbase=${TMPDIR:-/tmp}
[[ $(id -u) -eq 0 ]] && tmpbase=/tmp
TMPROOT=$(mktemp -d "$tmpbase/flowrun-test.XXXXXX")
chmod 755 "$TMPROOT"

if [[ -z ${TEST_DATABASE_URL:-} ]]; then
	start_postgres
else
	log "using TEST_DATABASE_URL from the environment"
fi
if [[ -z ${TEST_REDIS_URL:-} ]]; then
	start_redis
else
	log "using TEST_REDIS_URL from the environment"
fi

pkgs=(./...)
for a in "$@"; do
	case $a in
	./* | ../* | github.com/*) pkgs=() ;;
	esac
done

log "go test -race -count=1 ${pkgs[*]} $*"
set +e
go test -race -count=1 "${pkgs[@]}" "$@"
rc=$?
set -e

# After a green full run, each fuzzer runs briefly on top of its committed
# seeds: FLOWRUN_FUZZTIME per target (default 3s under CI=true, off
# otherwise; set it to fuzz locally).
fuzztime=${FLOWRUN_FUZZTIME:-}
if [[ -z $fuzztime && ${CI:-} == true ]]; then
	fuzztime=3s
fi
if [[ $rc == 0 && -n $fuzztime && $# == 0 ]]; then
	while IFS=: read -r file fn; do
		dir=./$(dirname "${file#./}")
		log "fuzz $fn in $dir for $fuzztime"
		if ! go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" -fuzzminimizetime 50x "$dir"; then
			rc=1
		fi
	done < <(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's/:func /:/' | sort)
fi
exit "$rc"
