# One Fargate service of orderstream: its log group, least-privilege task role (MSK IAM actions on the
# exact topic, group and transactional-id ARNs), task definition, service and lag-based autoscaling.

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  full_name = "${var.name_prefix}-${var.name}"

  topic_arn_prefix = replace(var.msk_cluster_arn, ":cluster/", ":topic/")
  group_arn_prefix = replace(var.msk_cluster_arn, ":cluster/", ":group/")
  txn_arn_prefix   = replace(var.msk_cluster_arn, ":cluster/", ":transactional-id/")

  read_topic_arns  = [for topic in var.read_topics : "${local.topic_arn_prefix}/${topic}"]
  write_topic_arns = [for topic in var.write_topics : "${local.topic_arn_prefix}/${topic}"]
  group_arn        = "${local.group_arn_prefix}/${var.consumer_group}"

  # faust names its changelog and assignor topics and its transactional ids after the group id.
  internal_topic_arn = "${local.topic_arn_prefix}/${var.consumer_group}-*"
  internal_txn_arn   = "${local.txn_arn_prefix}/${var.consumer_group}-*"

  # Backlog per task = (sum of SumOffsetLag over the topics the group reads) / running tasks.
  lag_metric_ids    = [for index, _ in var.read_topics : "lag${index}"]
  lag_sum_expr      = join(" + ", local.lag_metric_ids)
  health_check_code = "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:${var.health_check_port}/health', timeout=3).status == 200 else 1)"
}

# ------------------------------------------------------------------------------------------------ logs

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${local.full_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ------------------------------------------------------------------------------------------------ IAM

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.full_name}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role" "task" {
  name               = "${local.full_name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ConnectToCluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"]
    resources = [var.msk_cluster_arn]
  }

  statement {
    sid       = "ReadTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = local.read_topic_arns
  }

  dynamic "statement" {
    for_each = length(var.write_topics) > 0 ? [1] : []

    content {
      sid       = "WriteTopics"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
      resources = local.write_topic_arns
    }
  }

  statement {
    sid       = "UseConsumerGroup"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = [local.group_arn]
  }

  dynamic "statement" {
    for_each = var.faust_internal_topics ? [1] : []

    content {
      sid = "OwnInternalTopics"
      actions = [
        "kafka-cluster:CreateTopic",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:DescribeTopicDynamicConfiguration",
        "kafka-cluster:ReadData",
        "kafka-cluster:WriteData",
      ]
      resources = [local.internal_topic_arn]
    }
  }

  dynamic "statement" {
    for_each = var.faust_internal_topics ? [1] : []

    content {
      sid       = "OwnTransactionalIds"
      actions   = ["kafka-cluster:DescribeTransactionalId", "kafka-cluster:AlterTransactionalId"]
      resources = [local.internal_txn_arn]
    }
  }

  dynamic "statement" {
    for_each = var.extra_policy_statements

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "${local.full_name}-kafka"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ------------------------------------------------------------------------------------------------ task

resource "aws_ecs_task_definition" "this" {
  family                   = local.full_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Scratch space for faust's table state; the root filesystem stays read-only.
  volume {
    name = "data"
  }

  container_definitions = jsonencode([
    {
      name                   = var.name
      image                  = var.image
      essential              = true
      command                = var.command
      readonlyRootFilesystem = true
      stopTimeout            = var.stop_timeout
      environment            = [for key in sort(keys(var.environment)) : { name = key, value = var.environment[key] }]
      portMappings           = [{ containerPort = var.health_check_port, protocol = "tcp" }]
      mountPoints            = [{ sourceVolume = "data", containerPath = "/var/lib/orderstream", readOnly = false }]
      healthCheck = {
        command     = ["CMD", "python", "-c", local.health_check_code]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = var.name
        }
      }
    }
  ])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name                   = var.name
  cluster                = var.cluster_arn
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
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

  # Autoscaling owns the task count once the service exists.
  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags
}

# ------------------------------------------------------------------------------------------------ scaling

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
}

resource "aws_appautoscaling_policy" "lag" {
  name               = "${local.full_name}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.lag_target_per_task
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    customized_metric_specification {
      dynamic "metrics" {
        for_each = var.read_topics

        content {
          id          = "lag${metrics.key}"
          label       = "SumOffsetLag ${var.consumer_group} on ${metrics.value}"
          return_data = false

          metric_stat {
            stat = "Maximum"

            metric {
              namespace   = "AWS/Kafka"
              metric_name = "SumOffsetLag"

              dimensions {
                name  = "Cluster Name"
                value = var.msk_cluster_name
              }

              dimensions {
                name  = "Consumer Group"
                value = var.consumer_group
              }

              dimensions {
                name  = "Topic"
                value = metrics.value
              }
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Running tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = var.cluster_name
            }

            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.this.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_task"
        label       = "Consumer lag per running task"
        expression  = "(${local.lag_sum_expr}) / tasks"
        return_data = true
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "lag" {
  alarm_name          = "${local.full_name}-consumer-lag"
  alarm_description   = "Consumer group ${var.consumer_group} is more than ${var.lag_alarm_threshold} records behind."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.lag_alarm_threshold
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  dynamic "metric_query" {
    for_each = var.read_topics

    content {
      id = "lag${metric_query.key}"

      metric {
        namespace   = "AWS/Kafka"
        metric_name = "SumOffsetLag"
        period      = 60
        stat        = "Maximum"
        dimensions = {
          "Cluster Name"   = var.msk_cluster_name
          "Consumer Group" = var.consumer_group
          "Topic"          = metric_query.value
        }
      }
    }
  }

  metric_query {
    id          = "total_lag"
    expression  = local.lag_sum_expr
    label       = "Total consumer lag of ${var.consumer_group}"
    return_data = true
  }

  tags = var.tags
}
