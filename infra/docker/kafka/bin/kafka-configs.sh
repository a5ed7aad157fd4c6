#!/bin/bash
# The broker's configuration over the admin API (the compose health check describes broker 1 with it).
KAFKA_HEAP_OPTS="${KAFKA_TOOL_HEAP_OPTS:--Xmx128m}" exec /opt/kafka/bin/kafka-run-class.sh kafka.admin.ConfigCommand "$@"
