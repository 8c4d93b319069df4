#!/usr/bin/env bash
# Local real servers for sluice: NATS JetStream, PostgreSQL, FerretDB (MongoDB wire),
# versitygw (S3) and Jaeger, all on loopback.
#
#   infra.sh up      install what is missing, start what is not running, wait for health
#   infra.sh down    stop what this script started and remove its data directory
#   infra.sh status  print what listens where
#   infra.sh env     print the environment variables services and tests read
#
# Tools are built once into a machine-wide cache (pinned versions) so fresh clones and CI
# reuse them; data, logs and pid files live under one state directory.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/sluice
TOOLS=${SLUICE_TOOLS_DIR:-$CACHE/tools}
STATE=${SLUICE_INFRA_DIR:-$CACHE/infra}

NATS_VERSION=v2.15.2
FERRETDB_VERSION=v1.24.0
VERSITYGW_VERSION=v1.8.0
JAEGER_VERSION=v1.76.0

NATS_PORT=${SLUICE_NATS_PORT:-14222}
NATS_MONITOR_PORT=${SLUICE_NATS_MONITOR_PORT:-18222}
PG_PORT=${SLUICE_PG_PORT:-5432}
MONGO_PORT=${SLUICE_MONGO_PORT:-27017}
S3_PORT=${SLUICE_S3_PORT:-9000}
S3_ACCESS_KEY=sluice
S3_SECRET_KEY=sluice-secret-key
JAEGER_OTLP_GRPC_PORT=4317
JAEGER_OTLP_HTTP_PORT=4318
JAEGER_QUERY_PORT=16686
JAEGER_HEALTH_PORT=13133
PG_DB=sluice

log() { printf '%-10s %s\n' "$1" "$2"; }
die() { echo "infra: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name seconds command...
	local name=$1 secs=$2; shift 2
	local i
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	die "$name did not become healthy within ${secs}s; see $STATE/log/$name.log"
}

http_ok() { curl -fsS --max-time 2 "$1" >/dev/null 2>&1; }

start_bg() { # name command...
	local name=$1; shift
	mkdir -p "$STATE/log" "$STATE/pid"
	nohup setsid "$@" >"$STATE/log/$name.log" 2>&1 </dev/null &
	echo $! >"$STATE/pid/$name.pid"
}

go_install() { # name version package -> prints binary dir
	local name=$1 version=$2 pkg=$3 dir="$TOOLS/$1-$2"
	if [ ! -x "$dir/bin/$name" ]; then
		mkdir -p "$dir/bin"
		GOWORK=off GOFLAGS=-mod=mod GOBIN="$dir/bin" go install "$pkg@$version" >&2 || die "go install $pkg@$version failed"
		echo installed >"$dir/.fresh"
	fi
	echo "$dir/bin"
}

# --- NATS --------------------------------------------------------------------------------
nats_up() {
	if http_ok "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"; then
		log nats "reused   nats://127.0.0.1:$NATS_PORT"; return
	fi
	local bin; bin=$(go_install nats-server "$NATS_VERSION" github.com/nats-io/nats-server/v2)
	mkdir -p "$STATE/nats"
	start_bg nats "$bin/nats-server" -js -sd "$STATE/nats" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT"
	wait_for nats 30 http_ok "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"
	log nats "started  nats://127.0.0.1:$NATS_PORT (monitor :$NATS_MONITOR_PORT)"
}

# --- PostgreSQL: the machine's server (Debian package) -------------------------------------
pg_up() {
	if ! command -v pg_ctlcluster >/dev/null 2>&1; then
		log postgres "installing from Debian packages"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 || die "apt-get install postgresql failed"
	fi
	if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
		local v; v=$(ls /etc/postgresql | sort -V | tail -1)
		pg_ctlcluster --skip-systemctl-redirect "$v" main start || die "cannot start PostgreSQL $v"
		wait_for postgres 30 pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
		log postgres "started  127.0.0.1:$PG_PORT"
	else
		log postgres "reused   127.0.0.1:$PG_PORT"
	fi
	local psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qtAX)
	"${psql[@]}" -c "select 1" >/dev/null 2>&1 || psql=(su postgres -c "psql -p $PG_PORT -qtAX")
	if [ "$("${psql[@]}" -c "select 1 from pg_roles where rolname='sluice'")" != 1 ]; then
		"${psql[@]}" -c "create role sluice login superuser password 'sluice'" >/dev/null
	fi
	if [ "$("${psql[@]}" -c "select 1 from pg_database where datname='$PG_DB'")" != 1 ]; then
		"${psql[@]}" -c "create database $PG_DB owner sluice" >/dev/null
	fi
}

# --- FerretDB (MongoDB wire protocol over SQLite) -----------------------------------------
mongo_up() {
	if port_open "$MONGO_PORT"; then log ferretdb "reused   mongodb://127.0.0.1:$MONGO_PORT"; return; fi
	local dir="$TOOLS/ferretdb-$FERRETDB_VERSION"
	if [ ! -x "$dir/bin/ferretdb" ]; then
		mkdir -p "$dir/bin"
		(cd "$HERE/ferretdb" && GOWORK=off go build -o "$dir/bin/ferretdb" .) >&2 || die "build ferretdb failed"
	fi
	mkdir -p "$STATE/ferretdb"
	start_bg ferretdb "$dir/bin/ferretdb" --listen-addr "127.0.0.1:$MONGO_PORT" --handler sqlite --sqlite-url "file:$STATE/ferretdb/"
	wait_for ferretdb 30 port_open "$MONGO_PORT"
	log ferretdb "started  mongodb://127.0.0.1:$MONGO_PORT"
}

# --- S3: versitygw over a POSIX directory ---------------------------------------------------
s3_up() {
	if port_open "$S3_PORT"; then log s3 "reused   http://127.0.0.1:$S3_PORT"; return; fi
	local bin; bin=$(go_install versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw)
	mkdir -p "$STATE/s3"
	start_bg s3 "$bin/versitygw" --access "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" --port "127.0.0.1:$S3_PORT" posix "$STATE/s3"
	wait_for s3 30 port_open "$S3_PORT"
	log s3 "started  http://127.0.0.1:$S3_PORT"
}

# --- Jaeger v2 (all in one, memory storage) -------------------------------------------------
jaeger_up() {
	if http_ok "http://127.0.0.1:$JAEGER_HEALTH_PORT/status"; then
		log jaeger "reused   http://127.0.0.1:$JAEGER_QUERY_PORT"; return
	fi
	local dir="$TOOLS/jaeger-$JAEGER_VERSION"
	if [ ! -x "$dir/bin/jaeger" ]; then
		mkdir -p "$dir/bin"
		local src
		src=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
		[ -n "$src" ] || die "cannot download jaeger $JAEGER_VERSION"
		(cd "$src" && GOWORK=off GOFLAGS=-mod=mod go build -o "$dir/bin/jaeger" ./cmd/jaeger) >&2 || die "build jaeger failed"
	fi
	mkdir -p "$STATE"
	sed -e "s/@GRPC@/$JAEGER_OTLP_GRPC_PORT/; s/@HTTP@/$JAEGER_OTLP_HTTP_PORT/; s/@QUERY@/$JAEGER_QUERY_PORT/; s/@HEALTH@/$JAEGER_HEALTH_PORT/" \
		"$HERE/jaeger.yaml" >"$STATE/jaeger.yaml"
	start_bg jaeger "$dir/bin/jaeger" --config "$STATE/jaeger.yaml"
	wait_for jaeger 60 http_ok "http://127.0.0.1:$JAEGER_HEALTH_PORT/status"
	log jaeger "started  http://127.0.0.1:$JAEGER_QUERY_PORT (OTLP grpc :$JAEGER_OTLP_GRPC_PORT)"
}

print_env() {
	cat <<EOF
SLUICE_NATS_URL=nats://127.0.0.1:$NATS_PORT
SLUICE_POSTGRES_URL=postgres://sluice:sluice@127.0.0.1:$PG_PORT/$PG_DB?sslmode=disable
SLUICE_MONGO_URI=mongodb://127.0.0.1:$MONGO_PORT/
SLUICE_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
SLUICE_S3_ACCESS_KEY=$S3_ACCESS_KEY
SLUICE_S3_SECRET_KEY=$S3_SECRET_KEY
SLUICE_S3_REGION=us-east-1
SLUICE_OTLP_ENDPOINT=127.0.0.1:$JAEGER_OTLP_GRPC_PORT
SLUICE_JAEGER_URL=http://127.0.0.1:$JAEGER_QUERY_PORT
EOF
}

# write_context saves these servers as the CLI's "local" context (see sluice context), and
# selects it unless another context is selected already.
write_context() {
	local dir="${SLUICE_CONFIG_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/sluice}"
	mkdir -p "$dir/contexts"
	{ echo "# written by deploy/local/infra.sh up"; print_env; } >"$dir/contexts/local.env"
	chmod 600 "$dir/contexts/local.env"
	[ -s "$dir/current" ] || echo local >"$dir/current"
}

down() {
	local f pid
	for f in "$STATE"/pid/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		log "$(basename "$f" .pid)" stopped
	done
	# k8s/ belongs to k8s-tools.sh, which stops its own servers.
	rm -rf "$STATE/nats" "$STATE/ferretdb" "$STATE/s3" "$STATE/log" "$STATE/pid" "$STATE/env" "$STATE/jaeger.yaml"
	log infra "removed the data under $STATE (PostgreSQL is the machine's server; database $PG_DB kept)"
}

case "${1:-up}" in
up)
	command -v go >/dev/null || die "Go is required (https://go.dev/dl); none found on PATH"
	command -v curl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >&2
	mkdir -p "$TOOLS" "$STATE"
	pg_up
	nats_up
	mongo_up
	s3_up
	jaeger_up
	print_env >"$STATE/env"
	write_context
	;;
down) down ;;
status)
	for p in "nats $NATS_PORT" "postgres $PG_PORT" "ferretdb $MONGO_PORT" "s3 $S3_PORT" "jaeger $JAEGER_QUERY_PORT"; do
		set -- $p
		if port_open "$2"; then log "$1" "up       127.0.0.1:$2"; else log "$1" "down     127.0.0.1:$2"; fi
	done
	;;
env) print_env ;;
*) die "usage: infra.sh up|down|status|env" ;;
esac
