# Amazon MSK for orderstream: IAM client auth, TLS everywhere, KMS at rest, and a broker configuration
# that matches what the application assumes (topics created explicitly, RF 3, min ISR 2).

locals {
  provisioned = !var.serverless

  # The application creates its topics itself (`orderstream topics create`); a typo must fail, not
  # silently create a one-partition topic. RF 3 with min ISR 2 survives one AZ loss with acks=all.
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    num.partitions=6
    unclean.leader.election.enable=false
    transaction.state.log.replication.factor=3
    transaction.state.log.min.isr=2
    offsets.topic.replication.factor=3
  PROPERTIES

  cluster_arn = local.provisioned ? aws_msk_cluster.this[0].arn : aws_msk_serverless_cluster.this[0].arn
}

resource "aws_msk_configuration" "this" {
  count = local.provisioned ? 1 : 0

  name              = "${var.cluster_name}-config"
  kafka_versions    = [var.kafka_version]
  server_properties = local.server_properties
}

resource "aws_cloudwatch_log_group" "broker" {
  count = local.provisioned ? 1 : 0

  name              = "/aws/msk/${var.cluster_name}/broker"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_msk_cluster" "this" {
  count = local.provisioned ? 1 : 0

  cluster_name           = var.cluster_name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count

  # PER_TOPIC_PER_PARTITION is the level at which MSK publishes the consumer-lag metrics
  # (SumOffsetLag, MaxOffsetLag, EstimatedMaxTimeLag per consumer group and topic) used for autoscaling.
  enhanced_monitoring = "PER_TOPIC_PER_PARTITION"

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = var.security_group_ids

    storage_info {
      ebs_storage_info {
        volume_size = var.broker_volume_size
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false

    sasl {
      iam = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker[0].name
      }
    }
  }

  tags = var.tags
}

resource "aws_msk_serverless_cluster" "this" {
  count = var.serverless ? 1 : 0

  cluster_name = var.cluster_name

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  client_authentication {
    sasl {
      iam {
        enabled = true
      }
    }
  }

  tags = var.tags
}
