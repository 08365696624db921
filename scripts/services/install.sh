#!/usr/bin/env bash
# Installs the servers the queue integration tests and benchmarks use: nats-server (Debian) and Apache Kafka (Maven jars).
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

case "${1:-all}" in
  nats) install_nats ;;
  kafka) install_kafka ;;
  all) install_nats; install_kafka ;;
  *) log "usage: install.sh [all|nats|kafka]"; exit 2 ;;
esac
