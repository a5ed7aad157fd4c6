#!/bin/bash
# Broker settings from the environment, as the apache/kafka image reads them: each KAFKA_<NAME> variable
# (other than the JVM option ones) becomes a line of server.properties, <NAME> lower-cased with "___" for
# "-", "__" for "_" and "_" for ".". The KRaft storage is formatted once, with CLUSTER_ID.
set -euo pipefail
set -f
config=/opt/kafka/config/server.properties
: >"$config"
for name in $(compgen -e | grep -E '^KAFKA_[A-Z0-9_]+$' | sort); do
  case "$name" in
    KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_TOOL_HEAP_OPTS | KAFKA_LOG4J_OPTS | KAFKA_JMX_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_GC_LOG_OPTS) continue ;;
  esac
  key="${name#KAFKA_}"
  key="${key,,}"
  key="${key//___/-}"
  key="${key//__/@}"
  key="${key//_/.}"
  key="${key//@/_}"
  printf '%s=%s\n' "$key" "${!name}" >>"$config"
done
if ! grep -q '^process.roles=' "$config"; then
  echo "entrypoint: no KAFKA_PROCESS_ROLES (and other KAFKA_* settings) given" >&2
  exit 2
fi
log_dirs="$(sed -n 's/^log.dirs=//p' "$config")"
if [ -z "$log_dirs" ]; then
  log_dirs=/var/lib/kafka/data
  echo "log.dirs=$log_dirs" >>"$config"
fi
if [ ! -f "${log_dirs%%,*}/meta.properties" ]; then
  KAFKA_HEAP_OPTS=-Xmx128m /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool format \
    -t "${CLUSTER_ID:-4L6g3nShT-eMCtK--X86sw}" -c "$config" --ignore-formatted >/dev/null
fi
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$config"
