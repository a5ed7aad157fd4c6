output "rule_arn" {
  description = "ARN of the rule."
  value       = aws_cloudwatch_event_rule.this.arn
}

output "task_definition_arn" {
  description = "Task definition the rule's target runs."
  value       = module.task.task_definition_arn
}

output "container_name" {
  description = "Container the input template's overrides address."
  value       = module.task.container_name
}

output "dlq_url" {
  description = "SQS URL of the events whose task could not be started."
  value       = module.dlq.url
}
