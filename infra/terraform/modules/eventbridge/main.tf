# The EventBridge side of the bridge: a custom bus, an archive for replay, and one rule per consumer
# with an SQS target, a retry policy and a dead-letter queue for events that cannot be delivered.

resource "aws_cloudwatch_event_bus" "this" {
  name = var.bus_name
  tags = var.tags
}

resource "aws_cloudwatch_event_archive" "this" {
  name             = "${var.bus_name}-all"
  description      = "Every event on ${var.bus_name}, kept for replay."
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.archive_retention_days
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = var.rules

  name           = "${var.bus_name}-${each.key}"
  description    = each.value.description
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = each.value.event_pattern
  tags           = var.tags
}

resource "aws_sqs_queue" "target" {
  for_each = var.rules

  name                              = "${var.bus_name}-${each.key}"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
  tags                              = var.tags
}

resource "aws_sqs_queue" "dlq" {
  for_each = var.rules

  name                              = "${var.bus_name}-${each.key}-dlq"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
  tags                              = var.tags
}

data "aws_iam_policy_document" "queue" {
  for_each = var.rules

  statement {
    sid       = "EventBridgeDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.target[each.key].arn, aws_sqs_queue.dlq[each.key].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.this[each.key].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "target" {
  for_each = var.rules

  queue_url = aws_sqs_queue.target[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = var.rules

  queue_url = aws_sqs_queue.dlq[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = var.rules

  rule           = aws_cloudwatch_event_rule.this[each.key].name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "sqs-${each.key}"
  arn            = aws_sqs_queue.target[each.key].arn

  retry_policy {
    maximum_retry_attempts       = var.maximum_retry_attempts
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq[each.key].arn
  }
}

resource "aws_cloudwatch_metric_alarm" "target_dlq" {
  for_each = var.rules

  alarm_name          = "${var.bus_name}-${each.key}-undelivered"
  alarm_description   = "Events matched by rule ${each.key} could not be delivered to its queue and were parked in the DLQ."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}
