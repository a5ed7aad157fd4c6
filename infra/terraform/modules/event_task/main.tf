# Episodic work on ECS: an EventBridge rule whose target runs a one-off Fargate task per matching event. The
# input transformer turns the event into the task's container overrides; RunTask failures are retried by
# the target's retry policy and then parked in a dead-letter queue.

data "aws_caller_identity" "current" {}

locals {
  full_name = "${var.name_prefix}-${var.name}"
}

module "task" {
  source = "../ecs_task"

  name                   = var.name
  name_prefix            = var.name_prefix
  image                  = var.image
  command                = var.command
  environment            = var.environment
  task_policy_statements = var.task_policy_statements
  cpu                    = var.cpu
  memory                 = var.memory
  log_retention_days     = var.log_retention_days
  kms_key_arn            = var.kms_key_arn
  tags                   = var.tags
}

resource "aws_cloudwatch_event_rule" "this" {
  name           = local.full_name
  description    = var.description
  event_bus_name = var.event_bus_name
  event_pattern  = var.event_pattern
  tags           = var.tags
}

data "aws_iam_policy_document" "assume_events" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${local.full_name}-events"
  assume_role_policy = data.aws_iam_policy_document.assume_events.json
  tags               = var.tags
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "RunTheTask"
    actions   = ["ecs:RunTask"]
    resources = [module.task.task_definition_arn]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [module.task.execution_role_arn, module.task.task_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "${local.full_name}-events"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}

resource "aws_sqs_queue" "dlq" {
  name                              = "${local.full_name}-dlq"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
  tags                              = var.tags
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeParksUndelivered"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.this.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

resource "aws_cloudwatch_event_target" "this" {
  rule           = aws_cloudwatch_event_rule.this.name
  event_bus_name = var.event_bus_name
  target_id      = "run-${var.name}"
  arn            = var.cluster_arn
  role_arn       = aws_iam_role.events.arn

  ecs_target {
    task_definition_arn = module.task.task_definition_arn
    task_count          = 1
    launch_type         = "FARGATE"
    propagate_tags      = "TASK_DEFINITION"

    network_configuration {
      subnets          = var.subnet_ids
      security_groups  = var.security_group_ids
      assign_public_ip = false
    }
  }

  # For an ECS target, what the transformer renders is the RunTask call's overrides.
  input_transformer {
    input_paths    = var.input_paths
    input_template = var.input_template
  }

  retry_policy {
    maximum_retry_attempts       = var.maximum_retry_attempts
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_cloudwatch_metric_alarm" "dlq" {
  alarm_name          = "${local.full_name}-not-started"
  alarm_description   = "Events matched by ${local.full_name} could not start its task and were parked in the DLQ."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}
