#!/usr/bin/env bash
# Starts nats-server (JetStream) and a single-node KRaft Kafka on loopback for manual use; `start.sh stop` stops them.
# Data lives under .services/run/ (git-ignored) and survives restarts. Tests do not use these: they start their own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="$ROOT/.services/run"
NATS_PORT="${NATS_PORT:-4222}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"

log() { printf '[services/start] %s\n' "$*" >&2; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_port() {
  local port="$1" what="$2" tries=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 600 ]; then log "$what did not open port $port; see its log"; return 1; fi
    sleep 0.1
  done
}

start_nats() {
  mkdir -p "$RUN/nats"
  if running "$RUN/nats/server.pid"; then log "nats already running: nats://127.0.0.1:$NATS_PORT"; return; fi
  command -v nats-server >/dev/null || { log "nats-server missing: run scripts/services/install.sh nats"; return 1; }
  nohup nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$RUN/nats/jetstream" >"$RUN/nats/server.log" 2>&1 &
  echo $! >"$RUN/nats/server.pid"
  wait_port "$NATS_PORT" nats-server
  log "nats: nats://127.0.0.1:$NATS_PORT (log: ${RUN#$ROOT/}/nats/server.log)"
}

start_kafka() {
  local dir="$RUN/kafka" libs
  mkdir -p "$dir"
  if running "$dir/server.pid"; then log "kafka already running: kafka://127.0.0.1:$KAFKA_PORT"; return; fi
  libs="$(ls -d "$ROOT"/.services/kafka-*/libs 2>/dev/null | sort | tail -1)"
  [ -n "$libs" ] && [ -f "$libs/../.complete" ] || { log "Kafka jars missing: run scripts/services/install.sh kafka"; return 1; }
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  cat >"$dir/log4j.properties" <<'LOG4J'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
LOG4J
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    java -Xmx256m "-Dlog4j.configuration=file:$dir/log4j.properties" -cp "$libs/*" kafka.tools.StorageTool \
      format "--cluster-id=$cluster_id" -c "$dir/server.properties" >/dev/null
  fi
  nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true "-Dlog4j.configuration=file:$dir/log4j.properties" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" >"$dir/server.log" 2>&1 &
  echo $! >"$dir/server.pid"
  wait_port "$KAFKA_PORT" kafka
  log "kafka: kafka://127.0.0.1:$KAFKA_PORT (log: ${dir#$ROOT/}/server.log)"
}

stop_one() {
  local pidfile="$RUN/$1/server.pid"
  if running "$pidfile"; then
    kill "$(cat "$pidfile")"
    while running "$pidfile"; do sleep 0.1; done
    log "$1 stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-all}" in
  nats) start_nats ;;
  kafka) start_kafka ;;
  all) start_nats; start_kafka ;;
  stop) stop_one nats; stop_one kafka ;;
  *) log "usage: start.sh [all|nats|kafka|stop]"; exit 2 ;;
esac
