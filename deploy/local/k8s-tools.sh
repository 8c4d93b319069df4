#!/usr/bin/env bash
# Kubernetes tooling for the chart tests (deploy/deploytest): helm, etcd and a real
# kube-apiserver on loopback, which validates every rendered manifest by server-side dry-run.
#
#   k8s-tools.sh install   install the pinned tools that are missing (one line per tool)
#   k8s-tools.sh up        install, then start etcd + kube-apiserver (or reuse them), wait for /readyz
#   k8s-tools.sh down      stop what `up` started and remove its data
#   k8s-tools.sh status    say whether the API server answers
#   k8s-tools.sh env       print `export` lines for tests: eval "$(bash deploy/local/k8s-tools.sh env)"
#
# Tools go into the machine-wide cache ($TOOLS/<name>-<version>/bin) so fresh clones and CI
# reuse them; certificates, tokens, etcd data and logs live under $STATE. A cold install
# builds helm (~5 min) and kube-apiserver (~7 min on 2 cores); later runs take seconds.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/sluice
TOOLS=${SLUICE_TOOLS_DIR:-$CACHE/tools}
STATE=${SLUICE_K8S_DIR:-$CACHE/infra/k8s}

HELM_VERSION=v3.22.0
KUBE_VERSION=v1.36.3 # deploy/local/kube-apiserver/go.mod pins the same release
ETCD_VERSION=3.4.23  # Debian bookworm's etcd-server
PROMTOOL_VERSION=2.42.0 # Debian bookworm's prometheus: promtool checks the alert rules and dashboards

ETCD_PORT=${SLUICE_ETCD_PORT:-12379}
ETCD_PEER_PORT=${SLUICE_ETCD_PEER_PORT:-12380}
APISERVER_PORT=${SLUICE_KUBE_APISERVER_PORT:-16443}

HELM_BIN=$TOOLS/helm-$HELM_VERSION/bin/helm
ETCD_BIN=$TOOLS/etcd-$ETCD_VERSION/bin/etcd
PROMTOOL_BIN=$TOOLS/promtool-$PROMTOOL_VERSION/bin/promtool
APISERVER_BIN=$TOOLS/kube-apiserver-$KUBE_VERSION/bin/kube-apiserver
PKI=$STATE/pki

log() { printf '%-15s %s\n' "$1" "$2"; }
die() { echo "k8s-tools: $*" >&2; exit 1; }

apt_install() { # package...
	log apt "installing $*"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; then
		apt-get update -q >&2 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || die "apt-get install $* failed"
	fi
}

need_host_tools() {
	command -v go >/dev/null || die "Go is required (https://go.dev/dl); none found on PATH"
	local missing=()
	command -v curl >/dev/null || missing+=(curl)
	command -v openssl >/dev/null || missing+=(openssl)
	command -v dpkg >/dev/null || die "dpkg is required to unpack etcd (Debian/Ubuntu)"
	if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# --- tools ---------------------------------------------------------------------------------
install_helm() {
	if [ -x "$HELM_BIN" ]; then log helm "reused    $HELM_BIN"; return; fi
	local dir; dir=$(dirname "$HELM_BIN")
	mkdir -p "$dir"
	GOWORK=off GOFLAGS=-mod=mod GOBIN="$dir" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 ||
		die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"
	log helm "installed $HELM_BIN"
}

install_etcd() {
	if [ -x "$ETCD_BIN" ]; then log etcd "reused    $ETCD_BIN"; return; fi
	local tmp; tmp=$(mktemp -d)
	chmod 777 "$tmp" # apt-get download runs as the _apt user
	if ! (cd "$tmp" && apt-get download -q etcd-server >&2); then
		apt-get update -q >&2 || true
		(cd "$tmp" && apt-get download -q etcd-server >&2) || die "apt-get download etcd-server failed"
	fi
	dpkg -x "$tmp"/etcd-server_*.deb "$tmp/root"
	local got; got=$("$tmp/root/usr/bin/etcd" --version | sed -n 's/^etcd Version: //p')
	[ "$got" = "$ETCD_VERSION" ] || die "Debian's etcd-server is $got, this script pins $ETCD_VERSION: update ETCD_VERSION"
	mkdir -p "$(dirname "$ETCD_BIN")"
	cp "$tmp/root/usr/bin/etcd" "$ETCD_BIN.tmp" && mv "$ETCD_BIN.tmp" "$ETCD_BIN"
	rm -rf "$tmp"
	log etcd "installed $ETCD_BIN"
}

install_apiserver() {
	if [ -x "$APISERVER_BIN" ]; then log kube-apiserver "reused    $APISERVER_BIN"; return; fi
	mkdir -p "$(dirname "$APISERVER_BIN")"
	log kube-apiserver "building $KUBE_VERSION (about 7 minutes on 2 cores)"
	local v=k8s.io/component-base/version minor=${KUBE_VERSION#v1.}
	(cd "$HERE/kube-apiserver" && GOWORK=off go build -trimpath \
		-ldflags "-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=${minor%%.*}" \
		-o "$APISERVER_BIN.tmp" .) >&2 || die "build kube-apiserver $KUBE_VERSION failed"
	mv "$APISERVER_BIN.tmp" "$APISERVER_BIN"
	log kube-apiserver "installed $APISERVER_BIN"
}

# promtool comes out of Debian's prometheus package without installing it (which would
# start a Prometheus server).
install_promtool() {
	if [ -x "$PROMTOOL_BIN" ]; then log promtool "reused    $PROMTOOL_BIN"; return; fi
	local tmp; tmp=$(mktemp -d)
	chmod 777 "$tmp" # apt-get download runs as the _apt user
	if ! (cd "$tmp" && apt-get download -q prometheus >&2); then
		apt-get update -q >&2 || true
		(cd "$tmp" && apt-get download -q prometheus >&2) || die "apt-get download prometheus failed"
	fi
	dpkg -x "$tmp"/prometheus_*.deb "$tmp/root"
	local got; got=$("$tmp/root/usr/bin/promtool" --version 2>&1 | sed -n 's/^promtool, version \([0-9.]*\).*/\1/p')
	[ "$got" = "$PROMTOOL_VERSION" ] || die "Debian's promtool is $got, this script pins $PROMTOOL_VERSION: update PROMTOOL_VERSION"
	mkdir -p "$(dirname "$PROMTOOL_BIN")"
	cp "$tmp/root/usr/bin/promtool" "$PROMTOOL_BIN.tmp" && mv "$PROMTOOL_BIN.tmp" "$PROMTOOL_BIN"
	rm -rf "$tmp"
	log promtool "installed $PROMTOOL_BIN"
}

install_all() {
	need_host_tools
	mkdir -p "$TOOLS"
	install_etcd
	install_promtool
	install_helm
	install_apiserver
}

# --- servers -------------------------------------------------------------------------------
gen_pki() {
	[ -s "$PKI/token" ] && [ -s "$PKI/apiserver.crt" ] && [ -s "$PKI/sa.key" ] && return
	rm -rf "$PKI"
	mkdir -p "$PKI"
	(
		cd "$PKI"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sluice-test-ca" \
			-keyout ca.key -out ca.crt 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
			-keyout apiserver.key -out apiserver.csr 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
			-extfile apiserver.ext -out apiserver.crt 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		openssl rand -hex 32 >token
		# A static token for a member of system:masters: the tests' only identity.
		echo "$(cat token),sluice-test-admin,sluice-test-admin,\"system:masters\"" >tokens.csv
		chmod 600 ./*.key token tokens.csv
	) || die "generating certificates with openssl failed"
}

pid_alive() { [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

stop() { # name
	pid_alive "$1" || { rm -f "$STATE/$1.pid"; return 0; }
	local pid; pid=$(cat "$STATE/$1.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$STATE/$1.pid"
	log "$1" "stopped"
}

start_bg() { # name command...
	local name=$1; shift
	# 9>&-: the servers must not inherit (and hold) the lock of with_lock.
	nohup setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null 9>&- &
	echo $! >"$STATE/$name.pid"
}

wait_for() { # name seconds command...
	local name=$1 secs=$2; shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		pid_alive "$name" || die "$name exited; see $STATE/$name.log: $(tail -n 5 "$STATE/$name.log" 2>/dev/null)"
		sleep 0.2
	done
	die "$name did not become ready within ${secs}s; see $STATE/$name.log"
}

etcd_ok() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }

apiserver_ok() {
	[ -s "$PKI/token" ] || return 1
	curl -fsS --max-time 3 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(cat "$PKI/token")" \
		"https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -qx ok
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# orphan BIN FLAG: the pid of a server this script started whose pid file is gone (e.g.
# `infra.sh down` removed the whole infra directory): the exact binary with the exact flag.
orphan() {
	local p cmd
	for p in /proc/[0-9]*; do
		cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
		if [[ $cmd == "$1 "* && $cmd == *" $2 "* ]]; then
			echo "${p#/proc/}"
			return
		fi
	done
}

# adopt NAME BIN FLAG: write the pid file of an orphan so `stop` can end it.
adopt() {
	local pid; pid=$(orphan "$2" "$3")
	[ -n "$pid" ] || return 1
	echo "$pid" >"$STATE/$1.pid"
}

etcd_up() {
	if pid_alive etcd && etcd_ok; then log etcd "reused    http://127.0.0.1:$ETCD_PORT"; return; fi
	pid_alive etcd || adopt etcd "$ETCD_BIN" "http://127.0.0.1:$ETCD_PORT" || true
	stop etcd
	port_open "$ETCD_PORT" && die "port $ETCD_PORT is taken by something this script did not start; set SLUICE_ETCD_PORT"
	mkdir -p "$STATE/etcd"
	start_bg etcd "$ETCD_BIN" --name sluice-test --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "sluice-test=http://127.0.0.1:$ETCD_PEER_PORT" \
		--quota-backend-bytes 1073741824 --log-level warn
	wait_for etcd 30 etcd_ok
	log etcd "started   http://127.0.0.1:$ETCD_PORT"
}

apiserver_up() {
	if apiserver_ok; then log kube-apiserver "reused    https://127.0.0.1:$APISERVER_PORT"; return; fi
	pid_alive kube-apiserver || adopt kube-apiserver "$APISERVER_BIN" "$APISERVER_PORT" || true
	stop kube-apiserver
	port_open "$APISERVER_PORT" &&
		die "port $APISERVER_PORT is taken by something this script did not start; set SLUICE_KUBE_APISERVER_PORT"
	start_bg kube-apiserver "$APISERVER_BIN" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" \
		--authorization-mode RBAC \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16 --allow-privileged=true \
		--cert-dir "$STATE/cert-dir" --v 1
	wait_for kube-apiserver 120 apiserver_ok
	log kube-apiserver "started   https://127.0.0.1:$APISERVER_PORT"
}

write_kubeconfig() {
	cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: sluice-test
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority: $PKI/ca.crt
users:
  - name: sluice-test-admin
    user:
      token: $(cat "$PKI/token")
contexts:
  - name: sluice-test
    context: {cluster: sluice-test, user: sluice-test-admin}
current-context: sluice-test
EOF
	chmod 600 "$STATE/kubeconfig"
}

print_env() {
	[ -s "$PKI/token" ] || die "no API server state under $STATE; run: bash deploy/local/k8s-tools.sh up"
	cat <<EOF
export SLUICE_HELM=$HELM_BIN
export SLUICE_PROMTOOL=$PROMTOOL_BIN
export KUBE_APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
export KUBE_APISERVER_TOKEN=$(cat "$PKI/token")
export KUBE_APISERVER_CA=$PKI/ca.crt
export SLUICE_KUBECONFIG=$STATE/kubeconfig
EOF
}

up() {
	install_all
	mkdir -p "$STATE"
	gen_pki
	etcd_up
	apiserver_up
	write_kubeconfig
	print_env >"$STATE/env"
}

down() {
	mkdir -p "$STATE"
	pid_alive kube-apiserver || adopt kube-apiserver "$APISERVER_BIN" "$APISERVER_PORT" || true
	pid_alive etcd || adopt etcd "$ETCD_BIN" "http://127.0.0.1:$ETCD_PORT" || true
	stop kube-apiserver
	stop etcd
	rm -rf "$STATE"
	log k8s "removed $STATE"
}

with_lock() { # serialize concurrent runs (two `make test` at once) on one machine
	mkdir -p "$STATE"
	if command -v flock >/dev/null; then
		exec 9>"$STATE.lock"
		flock 9
	fi
	"$@"
}

case "${1:-up}" in
install) with_lock install_all ;;
up) with_lock up ;;
down) with_lock down ;;
status)
	if apiserver_ok; then log kube-apiserver "up        https://127.0.0.1:$APISERVER_PORT"; else log kube-apiserver "down"; fi
	if etcd_ok; then log etcd "up        http://127.0.0.1:$ETCD_PORT"; else log etcd "down"; fi
	;;
env) print_env ;;
*) die "usage: k8s-tools.sh install|up|down|status|env" ;;
esac
