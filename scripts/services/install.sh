#!/usr/bin/env bash
# Installs the servers the integration tests and benchmarks use: nats-server, redis-server and Prometheus (Debian), Apache Kafka (Maven jars).
# Idempotent: a second run finds everything in place and does nothing. Kafka's jars are cached under .services/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_DIR="$ROOT/.services/kafka-$KAFKA_VERSION"

log() { printf '[services/install] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

install_nats() {
  if command -v nats-server >/dev/null; then
    log "nats-server present: $(nats-server --version)"
    return
  fi
  log "installing nats-server (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nats-server >/dev/null
  log "nats-server installed: $(nats-server --version)"
}

# A current nats-server built from source with `go install` (Go module proxy) into .services/nats-server-<version>/:
# the cluster tests need what Debian's 2.9 lacks (subject transforms, KV fixes). Debian's binary stays the fallback
# that test/support/services.ts uses when this build is absent.
NATS_BUILD_VERSION="${NATS_BUILD_VERSION:-v2.15.3}"
install_nats_build() {
  local dir="$ROOT/.services/nats-server-$NATS_BUILD_VERSION"
  if [ -x "$dir/bin/nats-server" ]; then
    log "nats-server $NATS_BUILD_VERSION present in ${dir#$ROOT/}"
    return
  fi
  local go
  go="$(command -v go || echo /usr/local/go/bin/go)"
  if [ ! -x "$go" ]; then
    log "no Go toolchain: skipping the nats-server $NATS_BUILD_VERSION build (tests fall back to $(command -v nats-server || echo none))"
    return
  fi
  log "building nats-server $NATS_BUILD_VERSION with go install (takes minutes)"
  mkdir -p "$dir/bin.tmp"
  GOBIN="$dir/bin.tmp" GOFLAGS=-trimpath "$go" install "github.com/nats-io/nats-server/v2@$NATS_BUILD_VERSION"
  mv "$dir/bin.tmp" "$dir/bin"
  log "nats-server built: $("$dir/bin/nats-server" --version)"
}

# Only the binary is used (tests start it on a free port with no persistence); the Debian service is not needed.
install_redis() {
  if command -v redis-server >/dev/null; then
    log "redis-server present: $(redis-server --version | cut -d' ' -f3)"
    return
  fi
  log "installing redis-server (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
  log "redis-server installed: $(redis-server --version | cut -d' ' -f3)"
}

install_kafka() {
  if ! command -v java >/dev/null; then
    log "installing a Java runtime (apt)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  if [ -f "$KAFKA_DIR/.complete" ]; then
    log "kafka $KAFKA_VERSION jars present in ${KAFKA_DIR#$ROOT/}"
    return
  fi
  if ! command -v mvn >/dev/null; then
    log "installing maven (apt)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq maven >/dev/null
  fi
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies (maven)"
  mkdir -p "$KAFKA_DIR/libs"
  # A throwaway pom whose only purpose is to name the broker's artifacts for copy-dependencies;
  # slf4j-reload4j gives the broker a logger so its own log lines reach the data dir.
  cat >"$KAFKA_DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sandbox</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  (cd "$KAFKA_DIR" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs -DincludeScope=runtime)
  touch "$KAFKA_DIR/.complete"
  log "kafka $KAFKA_VERSION: $(ls "$KAFKA_DIR/libs" | wc -l) jars in ${KAFKA_DIR#$ROOT/}/libs"
}

# Prometheus for the `sandbox audit` integration tests. The tests run the binary themselves on a free port with a
# generated config; the Debian service is stopped and disabled where systemd runs it, so it holds no port.
install_prometheus() {
  if command -v prometheus >/dev/null; then
    log "prometheus present: $(prometheus --version 2>&1 | head -1)"
    return
  fi
  log "installing prometheus (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq prometheus >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  log "prometheus installed: $(prometheus --version 2>&1 | head -1)"
}

case "${1:-all}" in
  nats) install_nats; install_nats_build ;;
  kafka) install_kafka ;;
  prometheus) install_prometheus ;;
  redis) install_redis ;;
  all) install_nats; install_nats_build; install_redis; install_kafka; install_prometheus ;;
  *) log "usage: install.sh [all|nats|redis|kafka|prometheus]"; exit 2 ;;
esac
