# orderstream on AWS: MSK, one ECS Fargate service per deployable (one image), EventBridge bus and
# rules for the bridge, ECR, a claim-check bucket, and alarms on lag and dead letters.
#
# The service table below is checked against orderstream/deploy.py and orderstream/settings.py by
# tests/infra: topic lists, consumer groups and ORDERSTREAM_* names cannot drift from the code.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  image      = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"

  # KafkaSettings fields every service shares (SASL/IAM over TLS to MSK).
  common_environment = {
    ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS  = module.msk.bootstrap_brokers_sasl_iam
    ORDERSTREAM_KAFKA_SECURITY_PROTOCOL  = "SASL_SSL"
    ORDERSTREAM_KAFKA_SASL_MECHANISM     = "AWS_MSK_IAM"
    ORDERSTREAM_AWS_REGION               = var.region
    ORDERSTREAM_APP_ID                   = var.app_id
    ORDERSTREAM_TOPIC_PARTITIONS         = tostring(var.topic_partitions)
    ORDERSTREAM_TOPIC_REPLICATION_FACTOR = "3"
  }

  worker_port = 6066
  bridge_port = 9102

  services = {
    sequencer = {
      command               = ["worker"]
      read_topics           = ["orders", "payments", "shipments"]
      write_topics          = ["order-lifecycle", "orderstream.dlq"]
      consumer_group        = "${var.app_id}-sequencer"
      faust_internal_topics = true
      health_check_port     = local.worker_port
      stop_timeout          = 60
      environment = {
        ORDERSTREAM_AGENTS               = "sequencer"
        ORDERSTREAM_REORDER_TIMEOUT      = tostring(var.reorder_timeout_seconds)
        ORDERSTREAM_PROCESSING_GUARANTEE = var.processing_guarantee
        ORDERSTREAM_DATA_DIR             = "/var/lib/orderstream"
        ORDERSTREAM_WEB_HOST             = "0.0.0.0"
        ORDERSTREAM_WEB_PORT             = tostring(local.worker_port)
      }
      extra_policy_statements = []
    }
    router = {
      command               = ["worker"]
      read_topics           = ["order-lifecycle"]
      write_topics          = ["orders.high-value", "orderstream.dlq"]
      consumer_group        = "${var.app_id}-router"
      faust_internal_topics = true
      health_check_port     = local.worker_port
      stop_timeout          = 60
      environment = {
        ORDERSTREAM_AGENTS               = "router"
        ORDERSTREAM_PROCESSING_GUARANTEE = var.processing_guarantee
        ORDERSTREAM_DATA_DIR             = "/var/lib/orderstream"
        ORDERSTREAM_WEB_HOST             = "0.0.0.0"
        ORDERSTREAM_WEB_PORT             = tostring(local.worker_port)
      }
      extra_policy_statements = []
    }
    loyalty = {
      command               = ["worker"]
      read_topics           = ["order-lifecycle"]
      write_topics          = ["loyalty-events", "orderstream.dlq"]
      consumer_group        = "${var.app_id}-loyalty"
      faust_internal_topics = true
      health_check_port     = local.worker_port
      stop_timeout          = 60
      environment = {
        ORDERSTREAM_AGENTS               = "loyalty"
        ORDERSTREAM_PROCESSING_GUARANTEE = var.processing_guarantee
        ORDERSTREAM_DATA_DIR             = "/var/lib/orderstream"
        ORDERSTREAM_WEB_HOST             = "0.0.0.0"
        ORDERSTREAM_WEB_PORT             = tostring(local.worker_port)
      }
      extra_policy_statements = []
    }
    bridge = {
      command               = ["bridge"]
      read_topics           = ["order-lifecycle", "loyalty-events"]
      write_topics          = ["orderstream.dlq"]
      consumer_group        = "${var.app_id}-bridge"
      faust_internal_topics = false
      health_check_port     = local.bridge_port
      stop_timeout          = 30
      environment = {
        ORDERSTREAM_EVENT_BUS                 = module.eventbridge.bus_name
        ORDERSTREAM_EVENTBRIDGE_API           = "classic"
        ORDERSTREAM_BRIDGE_CLAIM_CHECK_BUCKET = aws_s3_bucket.claim_check.bucket
        ORDERSTREAM_BRIDGE_STOP_TIMEOUT       = "20"
        ORDERSTREAM_METRICS_HOST              = "0.0.0.0"
        ORDERSTREAM_METRICS_PORT              = tostring(local.bridge_port)
      }
      extra_policy_statements = [
        { sid = "PublishToBus", actions = ["events:PutEvents"], resources = [module.eventbridge.bus_arn] },
        { sid = "StoreClaimChecks", actions = ["s3:PutObject"], resources = ["${aws_s3_bucket.claim_check.arn}/*"] },
        { sid = "EncryptClaimChecks", actions = ["kms:GenerateDataKey"], resources = [aws_kms_key.this.arn] },
      ]
    }
  }

  event_rules = {
    notifications = {
      description   = "Customer notifications: new orders, failed payments, dispatches, tier changes."
      event_pattern = file("${path.module}/patterns/notifications.json")
    }
    crm = {
      description   = "CRM sync: every loyalty event the bridge publishes."
      event_pattern = file("${path.module}/patterns/crm.json")
    }
  }
}

# ------------------------------------------------------------------------------------------------ KMS

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:A key policy's Resource is always the key itself, written "*" by AWS convention.
  # checkov:skip=CKV_AWS_111:A key policy's Resource is always the key itself, written "*" by AWS convention.
  # checkov:skip=CKV_AWS_356:A key policy's Resource is always the key itself, written "*" by AWS convention.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "LogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "EventBridgeWritesEncryptedQueues"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description         = "${var.name}: MSK at rest, logs, queues, claim checks, images"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# ------------------------------------------------------------------------------------------------ network

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "orderstream Fargate tasks: outbound to MSK (IAM/TLS) and AWS APIs only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "msk" {
  name        = "${var.name}-msk"
  description = "orderstream MSK brokers: SASL/IAM over TLS from the tasks only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_tasks" {
  description                  = "Kafka SASL/IAM over TLS from the orderstream tasks"
  security_group_id            = aws_security_group.msk.id
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_msk" {
  description                  = "Kafka SASL/IAM over TLS to the brokers"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = aws_security_group.msk.id
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
}

# faust routes GET /loyalty/{customer} to the worker that owns the customer's table partition, over the
# web port: task to task only, never from a CIDR (docs/security.md).
resource "aws_vpc_security_group_ingress_rule" "tasks_web_from_tasks" {
  description                  = "faust table routing (/loyalty) between orderstream workers"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = local.worker_port
  to_port                      = local.worker_port
}

resource "aws_vpc_security_group_egress_rule" "tasks_web_to_tasks" {
  description                  = "faust table routing (/loyalty) between orderstream workers"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = local.worker_port
  to_port                      = local.worker_port
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_aws_apis" {
  description       = "HTTPS to AWS APIs (ECR, CloudWatch Logs, EventBridge, S3) via NAT or VPC endpoints"
  security_group_id = aws_security_group.tasks.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# ------------------------------------------------------------------------------------------------ Kafka

module "msk" {
  source = "../../modules/msk"

  cluster_name       = var.name
  serverless         = var.msk_serverless
  kafka_version      = var.kafka_version
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.msk.id]
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
}

# ------------------------------------------------------------------------------------------------ EventBridge

module "eventbridge" {
  source = "../../modules/eventbridge"

  bus_name               = var.app_id
  rules                  = local.event_rules
  archive_retention_days = var.event_archive_retention_days
  kms_key_arn            = aws_kms_key.this.arn
  alarm_actions          = var.alarm_actions
}

# ------------------------------------------------------------------------------------------------ claim checks

resource "aws_s3_bucket" "claim_check" {
  # checkov:skip=CKV_AWS_18:Short-lived machine-written payloads; access is audited by CloudTrail data events if needed.
  # checkov:skip=CKV_AWS_144:Claim checks live for days and are re-creatable from Kafka; cross-region replication is not worth its cost.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to new claim checks; consumers fetch them by the key in the event.
  bucket_prefix = "${var.name}-claim-check-"
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "claim_check" {
  bucket = aws_s3_bucket.claim_check.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "claim_check" {
  bucket = aws_s3_bucket.claim_check.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "claim_check" {
  bucket                  = aws_s3_bucket.claim_check.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "claim_check" {
  bucket = aws_s3_bucket.claim_check.id

  rule {
    id     = "expire-claim-checks"
    status = "Enabled"

    filter {}

    expiration {
      days = var.claim_check_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# ------------------------------------------------------------------------------------------------ containers

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

module "service" {
  source   = "../../modules/fargate_service"
  for_each = local.services

  name                    = each.key
  name_prefix             = var.name
  cluster_arn             = aws_ecs_cluster.this.arn
  cluster_name            = aws_ecs_cluster.this.name
  image                   = local.image
  command                 = each.value.command
  environment             = merge(local.common_environment, each.value.environment)
  subnet_ids              = var.private_subnet_ids
  security_group_ids      = [aws_security_group.tasks.id]
  health_check_port       = each.value.health_check_port
  stop_timeout            = each.value.stop_timeout
  log_retention_days      = var.log_retention_days
  kms_key_arn             = aws_kms_key.this.arn
  msk_cluster_arn         = module.msk.cluster_arn
  msk_cluster_name        = module.msk.cluster_name
  read_topics             = each.value.read_topics
  write_topics            = each.value.write_topics
  consumer_group          = each.value.consumer_group
  faust_internal_topics   = each.value.faust_internal_topics
  extra_policy_statements = each.value.extra_policy_statements
  partition_count         = var.topic_partitions
  min_capacity            = var.service_scaling[each.key].min_capacity
  max_capacity            = var.service_scaling[each.key].max_capacity
  desired_count           = var.service_scaling[each.key].min_capacity
  alarm_actions           = var.alarm_actions
}

# ------------------------------------------------------------------------------------------------ beside the stream

# Three ECS patterns next to the streaming services (docs/patterns-on-ecs.md): monthly statements on Step
# Functions + ECS workers, a one-off task per gold tier change, and a partner webhook through an API destination.

locals {
  gold_welcome_name = "gold-welcome"

  # The fields of the loyalty.tier_changed event (as the bridge publishes it) that go into the job's command.
  gold_welcome_input_paths = {
    event_id    = "$.detail.event_id"
    customer_id = "$.detail.customer_id"
    to_tier     = "$.detail.data.to_tier"
    occurred_at = "$.detail.occurred_at"
  }
}

module "statements" {
  source = "../../modules/statements"

  name_prefix         = var.name
  worker_style        = var.statements_worker_style
  cluster_arn         = aws_ecs_cluster.this.arn
  cluster_name        = aws_ecs_cluster.this.name
  image               = local.image
  environment         = local.common_environment
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.tasks.id]
  kms_key_arn         = aws_kms_key.this.arn
  msk_cluster_arn     = module.msk.cluster_arn
  loyalty_group       = local.services.loyalty.consumer_group
  event_bus_name      = module.eventbridge.bus_name
  event_bus_arn       = module.eventbridge.bus_arn
  schedule_expression = var.statements_schedule_expression
  max_capacity        = var.statements_max_workers
  log_retention_days  = var.log_retention_days
  alarm_actions       = var.alarm_actions
}

module "vouchers" {
  source = "../../modules/s3_bucket"

  bucket_prefix = "${var.name}-vouchers-"
  kms_key_arn   = aws_kms_key.this.arn
}

module "gold_welcome" {
  source = "../../modules/event_task"

  name        = local.gold_welcome_name
  name_prefix = var.name
  description = "A customer reached gold: issue the welcome voucher (once per customer)."
  cluster_arn = aws_ecs_cluster.this.arn
  image       = local.image
  command     = ["jobs", "gold-welcome"]
  environment = {
    ORDERSTREAM_AWS_REGION      = var.region
    ORDERSTREAM_VOUCHERS_BUCKET = module.vouchers.bucket
  }
  task_policy_statements = [
    { sid = "IssueVouchers", actions = ["s3:PutObject"], resources = ["${module.vouchers.arn}/vouchers/gold-welcome/*"] },
    { sid = "EncryptVouchers", actions = ["kms:GenerateDataKey"], resources = [aws_kms_key.this.arn] },
  ]
  event_bus_name     = module.eventbridge.bus_name
  event_pattern      = file("${path.module}/ecs_patterns/gold_welcome.pattern.json")
  input_paths        = local.gold_welcome_input_paths
  input_template     = templatefile("${path.module}/ecs_patterns/gold_welcome.overrides.json.tftpl", { container_name = local.gold_welcome_name })
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.tasks.id]
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
  alarm_actions      = var.alarm_actions
}

module "partner_webhook" {
  source = "../../modules/webhook"

  name                  = "partner-webhook"
  name_prefix           = var.name
  region                = var.region
  cluster_arn           = aws_ecs_cluster.this.arn
  image                 = local.image
  vpc_id                = var.vpc_id
  subnet_ids            = var.private_subnet_ids
  domain_name           = var.webhook_domain_name
  certificate_arn       = var.webhook_certificate_arn
  private_zone_id       = var.webhook_private_zone_id
  event_bus_name        = module.eventbridge.bus_name
  event_pattern         = file("${path.module}/ecs_patterns/partner_webhook.pattern.json")
  rate_limit_per_second = var.webhook_rate_limit_per_second
  kms_key_arn           = aws_kms_key.this.arn
  log_retention_days    = var.log_retention_days
  alarm_actions         = var.alarm_actions
}

# ------------------------------------------------------------------------------------------------ alarms

locals {
  # Provisioned clusters publish per-topic metrics per broker; Serverless per topic only.
  dlq_metric_schema = var.msk_serverless ? "\"AWS/Kafka\", \"Cluster Name\", \"Topic\"" : "\"AWS/Kafka\", \"Broker ID\", \"Cluster Name\", \"Topic\""
}

resource "aws_cloudwatch_metric_alarm" "kafka_dlq_growth" {
  alarm_name          = "${var.name}-dlq-growth"
  alarm_description   = "Records are arriving in orderstream.dlq: bad input or a failing stage. Inspect with `orderstream dlq list`."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions

  metric_query {
    id          = "dlq_in"
    label       = "Records into orderstream.dlq"
    period      = 300
    return_data = true
    expression  = "SELECT SUM(MessagesInPerSec) FROM SCHEMA(${local.dlq_metric_schema}) WHERE \"Cluster Name\" = '${module.msk.cluster_name}' AND \"Topic\" = 'orderstream.dlq'"
  }
}
