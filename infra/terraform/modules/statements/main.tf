# Monthly loyalty statements: an EventBridge Scheduler schedule starts a Step Functions state machine
# (statements.asl.json.tftpl, also rendered by orderstream.statements.definition) that plans the run, fans
# the loyalty table's partitions out to ECS workers with a Map state, totals the shard summaries and puts
# loyalty.statements_issued on the bus. The worker style is chosen here: an Activities pool (the ECS service
# statements-worker, autoscaled on the activity's metrics) or one RunTask task per step
# (ecs:runTask.waitForTaskToken). Statements land in the bucket this module creates.

locals {
  full_name  = "${var.name_prefix}-statements"
  activities = var.worker_style == "activity"

  topic_arn_prefix = replace(var.msk_cluster_arn, ":cluster/", ":topic/")
  # The loyalty table's changelog (faust: <group>-<table>-changelog) and the events the ledger emitted.
  read_topic_arns = [
    "${local.topic_arn_prefix}/${var.loyalty_group}-loyalty-ledger-changelog",
    "${local.topic_arn_prefix}/loyalty-events",
  ]

  environment = merge(var.environment, {
    ORDERSTREAM_EVENT_BUS                     = var.event_bus_name
    ORDERSTREAM_STATEMENTS_BUCKET             = module.bucket.bucket
    ORDERSTREAM_STATEMENTS_LOYALTY_GROUP      = var.loyalty_group
    ORDERSTREAM_STATEMENTS_ACTIVITY_ARN       = aws_sfn_activity.this.id
    ORDERSTREAM_STATEMENTS_HEARTBEAT_INTERVAL = tostring(var.heartbeat_interval_seconds)
    ORDERSTREAM_STATEMENTS_MAX_SHARDS         = tostring(var.max_shards)
  })

  # The variables of statements.asl.json.tftpl: the fields of orderstream.statements.definition.DefinitionVars.
  definition_vars = {
    worker_style           = var.worker_style
    activity_arn           = aws_sfn_activity.this.id
    cluster_arn            = var.cluster_arn
    task_definition_arn    = module.worker_task.task_definition_arn
    container_name         = module.worker_task.container_name
    subnet_ids             = var.subnet_ids
    security_group_ids     = var.security_group_ids
    event_bus_name         = var.event_bus_name
    bucket                 = module.bucket.bucket
    max_concurrency        = var.max_concurrency
    heartbeat_seconds      = var.heartbeat_seconds
    timeout_seconds        = var.timeout_seconds
    retry_interval_seconds = var.retry_interval_seconds
    retry_max_attempts     = var.retry_max_attempts
    retry_backoff_rate     = var.retry_backoff_rate
  }

  # The worker's task role: read the two topics, write statements; the Activities style also works the
  # activity (the RunTask style reports with the state machine's token: see report_with_task_token).
  worker_statements = [
    {
      sid       = "ConnectToCluster"
      actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
      resources = [var.msk_cluster_arn]
    },
    {
      sid       = "ReadLoyaltyTopics"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
      resources = local.read_topic_arns
    },
    {
      sid       = "WriteStatements"
      actions   = ["s3:PutObject"]
      resources = ["${module.bucket.arn}/statements/*"]
    },
    {
      sid       = "EncryptStatements"
      actions   = ["kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
    },
  ]
  activity_statements = [
    {
      sid       = "WorkTheActivity"
      actions   = ["states:GetActivityTask", "states:SendTaskHeartbeat", "states:SendTaskSuccess", "states:SendTaskFailure"]
      resources = [aws_sfn_activity.this.id]
    },
  ]
}

module "bucket" {
  source = "../s3_bucket"

  bucket_prefix   = "${local.full_name}-"
  kms_key_arn     = var.kms_key_arn
  expiration_days = var.statements_retention_days
  tags            = var.tags
}

resource "aws_sfn_activity" "this" {
  name = local.full_name
  tags = var.tags
}

# ------------------------------------------------------------------------------------------------ worker

module "worker_task" {
  source = "../ecs_task"

  name                   = "statements-worker"
  name_prefix            = var.name_prefix
  image                  = var.image
  command                = ["statements", "worker"]
  environment            = local.environment
  task_policy_statements = local.activities ? concat(local.worker_statements, local.activity_statements) : local.worker_statements
  cpu                    = var.cpu
  memory                 = var.memory
  stop_timeout           = var.stop_timeout
  started_in             = local.activities ? null : { cluster_arn = var.cluster_arn }
  log_retention_days     = var.log_retention_days
  kms_key_arn            = var.kms_key_arn
  tags                   = var.tags
}

# RunTask style: the token the worker reports with comes from the state machine, not from an activity, and
# IAM cannot scope SendTask* to it.
data "aws_iam_policy_document" "report_with_task_token" {
  # checkov:skip=CKV_AWS_111:SendTaskSuccess/Failure/Heartbeat for callback task tokens take no resource ARN; the token itself is the authorisation.
  # checkov:skip=CKV_AWS_356:SendTaskSuccess/Failure/Heartbeat for callback task tokens take no resource ARN; the token itself is the authorisation.
  statement {
    sid       = "ReportWithTaskToken"
    actions   = ["states:SendTaskHeartbeat", "states:SendTaskSuccess", "states:SendTaskFailure"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "report_with_task_token" {
  count = local.activities ? 0 : 1

  name   = "${local.full_name}-task-token"
  role   = module.worker_task.task_role_name
  policy = data.aws_iam_policy_document.report_with_task_token.json
}

resource "aws_ecs_service" "worker" {
  count = local.activities ? 1 : 0

  name                   = "statements-worker"
  cluster                = var.cluster_arn
  task_definition        = module.worker_task.task_definition_arn
  desired_count          = var.min_capacity
  launch_type            = "FARGATE"
  propagate_tags         = "SERVICE"
  enable_execute_command = false

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags
}

# Scale out as soon as the activity has work scheduled; back in after idle_minutes without any activity
# event (a worker that is stopped mid-task hands its task back: it is retried, not lost).
resource "aws_appautoscaling_target" "worker" {
  count = local.activities ? 1 : 0

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.worker[0].name}"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
}

locals {
  # Step scaling to an exact count: all workers when work is scheduled, min_capacity when idle.
  scaling_steps = {
    work-scheduled = { capacity = var.max_capacity, lower = 0, upper = null, cooldown = 60 }
    idle           = { capacity = var.min_capacity, lower = null, upper = 0, cooldown = 300 }
  }
}

resource "aws_appautoscaling_policy" "pool" {
  for_each = { for name, step in local.scaling_steps : name => step if local.activities }

  name               = "${local.full_name}-${each.key}"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.worker[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.worker[0].resource_id

  step_scaling_policy_configuration {
    adjustment_type         = "ExactCapacity"
    cooldown                = each.value.cooldown
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = each.value.lower
      metric_interval_upper_bound = each.value.upper
      scaling_adjustment          = each.value.capacity
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "work_scheduled" {
  count = local.activities ? 1 : 0

  alarm_name          = "${local.full_name}-work-scheduled"
  alarm_description   = "Steps are waiting on ${aws_sfn_activity.this.name}: scale the statements-worker pool out."
  namespace           = "AWS/States"
  metric_name         = "ActivitiesScheduled"
  dimensions          = { ActivityArn = aws_sfn_activity.this.id }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.pool["work-scheduled"].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "idle" {
  count = local.activities ? 1 : 0

  alarm_name          = "${local.full_name}-idle"
  alarm_description   = "No step scheduled, started or finished on ${aws_sfn_activity.this.name} for ${var.idle_minutes} minutes: scale the pool in."
  comparison_operator = "LessThanOrEqualToThreshold"
  threshold           = 0
  evaluation_periods  = var.idle_minutes
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_appautoscaling_policy.pool["idle"].arn]

  dynamic "metric_query" {
    for_each = ["ActivitiesScheduled", "ActivitiesStarted", "ActivitiesSucceeded", "ActivitiesFailed"]

    content {
      id = lower(metric_query.value)

      metric {
        namespace   = "AWS/States"
        metric_name = metric_query.value
        period      = 60
        stat        = "Sum"
        dimensions  = { ActivityArn = aws_sfn_activity.this.id }
      }
    }
  }

  metric_query {
    id          = "activity"
    expression  = "activitiesscheduled + activitiesstarted + activitiessucceeded + activitiesfailed"
    label       = "Activity events of ${aws_sfn_activity.this.name}"
    return_data = true
  }

  tags = var.tags
}

# ------------------------------------------------------------------------------------------------ state machine

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${local.full_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "AnnounceStatements"
    actions   = ["events:PutEvents"]
    resources = [var.event_bus_arn]
  }
}

# Step Functions delivers its logs through CloudWatch Logs' vended-log APIs, which take no resource ARN.
data "aws_iam_policy_document" "state_machine_logs" {
  # checkov:skip=CKV_AWS_111:The CloudWatch Logs log-delivery actions Step Functions needs support no resource-level permissions (AWS documents "*").
  # checkov:skip=CKV_AWS_356:The CloudWatch Logs log-delivery actions Step Functions needs support no resource-level permissions (AWS documents "*").
  statement {
    sid = "DeliverLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }
}

module "state_machine_role" {
  source = "../service_role"

  name    = "${local.full_name}-state-machine"
  service = "states.amazonaws.com"
  policies = merge(
    {
      announce = data.aws_iam_policy_document.state_machine.json
      logs     = data.aws_iam_policy_document.state_machine_logs.json
    },
    # RunTask style: run the worker task definition in the cluster, passing exactly its two roles.
    { for name, doc in { run-workers = module.worker_task.run_policy_json } : name => doc if !local.activities },
  )
  tags = var.tags
}

resource "aws_sfn_state_machine" "this" {
  # checkov:skip=CKV_AWS_284:A monthly batch of a handful of steps; execution history and the ERROR log cover it, X-Ray would add cost and "*" grants for no reader.
  name       = local.full_name
  role_arn   = module.state_machine_role.arn
  type       = "STANDARD"
  definition = templatefile("${path.module}/statements.asl.json.tftpl", local.definition_vars)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tags = var.tags

  depends_on = [module.state_machine_role]
}

resource "aws_cloudwatch_metric_alarm" "run_failed" {
  alarm_name          = "${local.full_name}-run-failed"
  alarm_description   = "A statements execution failed or timed out (a failed shard alone does not fail it: it is listed in the output and the loyalty.statements_issued event)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions

  metric_query {
    id = "failed"

    metric {
      namespace   = "AWS/States"
      metric_name = "ExecutionsFailed"
      period      = 300
      stat        = "Sum"
      dimensions  = { StateMachineArn = aws_sfn_state_machine.this.arn }
    }
  }

  metric_query {
    id = "timed_out"

    metric {
      namespace   = "AWS/States"
      metric_name = "ExecutionsTimedOut"
      period      = 300
      stat        = "Sum"
      dimensions  = { StateMachineArn = aws_sfn_state_machine.this.arn }
    }
  }

  metric_query {
    id          = "runs_failed"
    expression  = "failed + timed_out"
    label       = "Failed or timed-out statements runs"
    return_data = true
  }

  tags = var.tags
}

# ------------------------------------------------------------------------------------------------ schedule

module "schedule_dlq" {
  source = "../dead_letter_queue"

  name              = "${local.full_name}-schedule-dlq"
  rule_arn          = null # the scheduler's role sends, with its own grant below
  alarm_description = "The schedule could not start a statements run: a month may be missing."
  kms_key_arn       = var.kms_key_arn
  alarm_actions     = var.alarm_actions
  tags              = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartStatements"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.this.arn]
  }

  statement {
    sid       = "ParkMissedRuns"
    actions   = ["sqs:SendMessage"]
    resources = [module.schedule_dlq.arn]
  }

  statement {
    sid       = "EncryptParkedRuns"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

module "scheduler_role" {
  source = "../service_role"

  name     = "${local.full_name}-scheduler"
  service  = "scheduler.amazonaws.com"
  policies = { start = data.aws_iam_policy_document.scheduler.json }
  tags     = var.tags
}

resource "aws_scheduler_schedule" "monthly" {
  name                         = local.full_name
  description                  = "Loyalty statements of the month that just ended."
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.this.arn
    role_arn = module.scheduler_role.arn
    # The plan step states the month before this time (UTC).
    input = jsonencode({ scheduled_time = "<aws.scheduler.scheduled-time>" })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 10
    }

    dead_letter_config {
      arn = module.schedule_dlq.arn
    }
  }
}
