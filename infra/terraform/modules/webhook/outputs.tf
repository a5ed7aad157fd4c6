output "endpoint" {
  description = "URL the API destination calls."
  value       = local.endpoint
}

output "api_destination_arn" {
  description = "ARN of the API destination."
  value       = aws_cloudwatch_event_api_destination.this.arn
}

output "api_key_secret_arn" {
  description = "Secrets Manager secret holding the API key (connection and receiver)."
  value       = aws_secretsmanager_secret.api_key.arn
}

output "service_name" {
  description = "ECS service of the receiver."
  value       = aws_ecs_service.receiver.name
}

output "dlq_url" {
  description = "SQS URL of undeliverable tier changes."
  value       = module.dlq.url
}
