# A dead-letter queue: KMS-encrypted, with an alarm as soon as anything lands in it. For an EventBridge
# rule's target (rule_arn set) EventBridge may write to it for that one rule only; other senders (the
# Scheduler's role) get their grant on their own role.

resource "aws_sqs_queue" "this" {
  name                              = var.name
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
  tags                              = var.tags
}

data "aws_iam_policy_document" "this" {
  count = var.rule_arn == null ? 0 : 1

  statement {
    sid       = "EventBridgeParksUndelivered"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [var.rule_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count = var.rule_arn == null ? 0 : 1

  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.this[0].json
}

resource "aws_cloudwatch_metric_alarm" "this" {
  alarm_name          = "${var.name}-not-empty"
  alarm_description   = var.alarm_description
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.this.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}
