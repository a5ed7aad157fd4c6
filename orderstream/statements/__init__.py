"""Monthly loyalty statements on Step Functions and ECS workers (docs/patterns-on-ecs.md).

``definition`` renders the state machine (one ASL template, shared with Terraform); ``steps`` are the work
(plan the shards, write one shard's statements); ``source`` reads Kafka; ``worker`` is how a step reaches a
worker (Activities pool or RunTask) and how the worker reports; ``run`` starts and follows an execution;
``local`` stands in for Terraform and ECS against moto.
"""
