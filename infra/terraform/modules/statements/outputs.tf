output "state_machine_arn" {
  description = "ARN of the statements state machine (ORDERSTREAM_STATEMENTS_STATE_MACHINE_ARN of `orderstream statements run`)."
  value       = aws_sfn_state_machine.this.arn
}

output "activity_arn" {
  description = "ARN of the activity the statements-worker pool polls (Activities style)."
  value       = aws_sfn_activity.this.id
}

output "bucket" {
  description = "Bucket holding statements/<yyyy-mm>/<customer_id>.json."
  value       = module.bucket.bucket
}

output "task_definition_arn" {
  description = "Task definition of the statements worker (both styles)."
  value       = module.worker_task.task_definition_arn
}

output "worker_service_name" {
  description = "ECS service of the Activities pool (null in the RunTask style)."
  value       = local.activities ? aws_ecs_service.worker[0].name : null
}

output "schedule_arn" {
  description = "ARN of the monthly schedule."
  value       = aws_scheduler_schedule.monthly.arn
}
