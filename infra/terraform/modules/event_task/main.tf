# Episodic work on ECS: an EventBridge rule whose target runs a one-off Fargate task per matching event. The
# input transformer turns the event into the task's container overrides; RunTask failures are retried by
# the target's retry policy and then parked in a dead-letter queue.

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
  started_in             = { cluster_arn = var.cluster_arn }
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

module "events_role" {
  source = "../service_role"

  name     = "${local.full_name}-events"
  service  = "events.amazonaws.com"
  policies = { run-task = module.task.run_policy_json }
  tags     = var.tags
}

module "dlq" {
  source = "../dead_letter_queue"

  name              = "${local.full_name}-dlq"
  rule_arn          = aws_cloudwatch_event_rule.this.arn
  alarm_description = "Events matched by ${local.full_name} could not start its task and were parked here."
  kms_key_arn       = var.kms_key_arn
  alarm_actions     = var.alarm_actions
  tags              = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  rule           = aws_cloudwatch_event_rule.this.name
  event_bus_name = var.event_bus_name
  target_id      = "run-${var.name}"
  arn            = var.cluster_arn
  role_arn       = module.events_role.arn

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
    arn = module.dlq.arn
  }
}
