#!/usr/bin/env bash
# scripts/test.sh — the project's single test command.
#
# Starts a throwaway PostgreSQL and Redis on free loopback ports (each in its
# own temp dir, so several runs can go at once), exports TEST_DATABASE_URL and
# TEST_REDIS_URL, runs `go vet` and staticcheck, then `go test -race -count=1
# ./...` plus any extra arguments,
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
# The servers are started by the functions of scripts/services.sh (shared
# with cmd/bench).
#
# Environment knobs:
#   FLOWRUN_FUZZTIME               fuzz budget per target after a green full run
#                                  (default 20000x when CI=true, otherwise off)
#   FLOWRUN_TEST_REDIS_APPENDONLY  yes|no (default no)
#   FLOWRUN_TEST_KEEP              1 keeps the temp dir (logs) after the run
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Shared with cmd/bench: start_postgres, start_redis, services_stop, log, die.
# shellcheck source=scripts/services.sh
source scripts/services.sh
SERVICES_LOG_PREFIX=test.sh
SERVICES_PG_DB=flowrun_test
SERVICES_REDIS_APPENDONLY=${FLOWRUN_TEST_REDIS_APPENDONLY:-no}

TMPROOT=""

cleanup() {
	local rc=$?
	set +e
	services_stop
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

# As root the cluster runs as `postgres`, which must reach the temp dir: use
# /tmp rather than a TMPDIR that may sit under /root. The path stays short
# because PostgreSQL's unix socket lives in it.
tmpbase=${TMPDIR:-/tmp}
[[ $(id -u) -eq 0 ]] && tmpbase=/tmp
TMPROOT=$(mktemp -d "$tmpbase/flowrun-test.XXXXXX")
chmod 755 "$TMPROOT"

if [[ -z ${TEST_DATABASE_URL:-} ]]; then
	start_postgres
	export TEST_DATABASE_URL=$SERVICES_PG_URL
else
	log "using TEST_DATABASE_URL from the environment"
fi
if [[ -z ${TEST_REDIS_URL:-} ]]; then
	start_redis
	export TEST_REDIS_URL=$SERVICES_REDIS_URL
else
	log "using TEST_REDIS_URL from the environment"
fi

# Code nodes run real CPython workers, and the SDK test needs node/npm.
# The hostile suite also runs the api as nobody, which needs a system
# interpreter outside /root (a pyenv one is not reachable by nobody).
{ command -v python3 >/dev/null && [[ -x /usr/bin/python3 ]]; } || apt_install python3
# The console's browser tests drive Debian's Chromium (internal/console).
[[ -n ${CHROMIUM:-} ]] || [[ -x /usr/bin/chromium ]] || apt_install chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm

pkgs=(./...)
for a in "$@"; do
	case $a in
	./* | ../* | github.com/*) pkgs=() ;;
	esac
done

# Lint first (a whole-tree run only): go vet and staticcheck
# (staticcheck.conf), pinned and fetched through the module proxy.
if [[ ${#pkgs[@]} -gt 0 ]]; then
	log "go vet ./... and staticcheck ./..."
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
fi

log "go test -race -count=1 ${pkgs[*]} $*"
set +e
go test -race -count=1 "${pkgs[@]}" "$@"
rc=$?
set -e

# After a green full run, each fuzzer runs briefly on top of its committed
# seeds: FLOWRUN_FUZZTIME per target (default 20000x under CI=true, off
# otherwise; set it to fuzz locally). The CI default is a count, not a
# duration: Go 1.26's fuzz coordinator can report a bare "context deadline
# exceeded" failure when a duration budget expires with a worker mid-call
# (go.dev/issue/75804, fixed in Go 1.27), and a count has no deadline.
fuzztime=${FLOWRUN_FUZZTIME:-}
if [[ -z $fuzztime && ${CI:-} == true ]]; then
	fuzztime=20000x
fi
if [[ $rc == 0 && -n $fuzztime && $# == 0 ]]; then
	while IFS=: read -r file fn; do
		dir=./$(dirname "${file#./}")
		log "fuzz $fn in $dir, -fuzztime $fuzztime"
		if ! go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" -fuzzminimizetime 50x "$dir"; then
			rc=1
		fi
	done < <(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's/:func /:/' | sort)
fi
exit "$rc"
