output "bootstrap_brokers_sasl_iam" {
  description = "MSK bootstrap servers (SASL/IAM over TLS); ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS of every task."
  value       = module.msk.bootstrap_brokers_sasl_iam
}

output "msk_cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = module.msk.cluster_arn
}

output "ecr_repository_url" {
  description = "Push the orderstream image here, tagged with var.image_tag."
  value       = aws_ecr_repository.this.repository_url
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  description = "ECS service name of each deployable."
  value       = { for name, service in module.service : name => service.service_name }
}

output "task_role_arns" {
  description = "Task role of each deployable (its identity towards MSK, EventBridge and S3)."
  value       = { for name, service in module.service : name => service.task_role_arn }
}

output "event_bus_name" {
  description = "The EventBridge bus the bridge publishes to (ORDERSTREAM_EVENT_BUS)."
  value       = module.eventbridge.bus_name
}

output "event_archive_arn" {
  description = "Archive of every event on the bus, for replay."
  value       = module.eventbridge.archive_arn
}

output "event_queue_urls" {
  description = "SQS queue of each EventBridge rule (notifications, crm)."
  value       = module.eventbridge.queue_urls
}

output "claim_check_bucket" {
  description = "Bucket for payloads too large for PutEvents (ORDERSTREAM_BRIDGE_CLAIM_CHECK_BUCKET)."
  value       = aws_s3_bucket.claim_check.bucket
}

output "task_security_group_id" {
  description = "Security group of the tasks (allow it in VPC endpoint policies if you use them)."
  value       = aws_security_group.tasks.id
}

output "statements_state_machine_arn" {
  description = "The statements state machine (ORDERSTREAM_STATEMENTS_STATE_MACHINE_ARN of `orderstream statements run`)."
  value       = module.statements.state_machine_arn
}

output "statements_bucket" {
  description = "Bucket of the monthly statements (statements/<yyyy-mm>/<customer_id>.json)."
  value       = module.statements.bucket
}

output "vouchers_bucket" {
  description = "Bucket of the gold welcome vouchers (vouchers/gold-welcome/<customer_id>.json)."
  value       = module.vouchers.bucket
}

output "gold_welcome_rule_arn" {
  description = "Rule that starts the gold welcome task."
  value       = module.gold_welcome.rule_arn
}

output "partner_webhook_endpoint" {
  description = "URL EventBridge's API destination calls with every tier change."
  value       = module.partner_webhook.endpoint
}
