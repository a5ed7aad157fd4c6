output "bus_name" {
  description = "Name of the event bus."
  value       = aws_cloudwatch_event_bus.this.name
}

output "bus_arn" {
  description = "ARN of the event bus (the resource of the bridge's events:PutEvents grant)."
  value       = aws_cloudwatch_event_bus.this.arn
}

output "archive_arn" {
  description = "ARN of the archive used to replay events."
  value       = aws_cloudwatch_event_archive.this.arn
}

output "queue_urls" {
  description = "SQS queue URL of each rule's target, by rule name."
  value       = { for name, queue in aws_sqs_queue.target : name => queue.id }
}

output "dlq_urls" {
  description = "SQS URL of each rule's delivery dead-letter queue, by rule name."
  value       = { for name, queue in aws_sqs_queue.dlq : name => queue.id }
}
