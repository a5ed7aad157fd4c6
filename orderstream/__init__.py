"""orderstream: event-driven order platform on Kafka."""

__version__ = "0.1.0"
