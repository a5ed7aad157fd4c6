#!/bin/bash
# Run a Kafka class with the image's jars: kafka-run-class.sh <main class> [args...]
set -euo pipefail
set -f # the classpath wildcard is for the JVM, not the shell
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseG1GC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml ${KAFKA_OPTS:-} \
  -cp '/opt/kafka/libs/*' "$@"
