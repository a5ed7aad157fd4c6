"""Plain aiokafka consumers. ``consumers.bridge`` republishes selected events to Amazon EventBridge."""
