output "task_definition_arn" {
  description = "ARN of the task definition revision (what RunTask and services start)."
  value       = aws_ecs_task_definition.this.arn
}

output "family" {
  description = "Task definition family."
  value       = aws_ecs_task_definition.this.family
}

output "container_name" {
  description = "Name of the container (the name container overrides address)."
  value       = var.name
}

output "execution_role_arn" {
  description = "ARN of the execution role (passed to ECS by whoever starts the task)."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the task role (passed to ECS by whoever starts the task)."
  value       = aws_iam_role.task.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the container."
  value       = aws_cloudwatch_log_group.this.name
}

output "task_role_name" {
  description = "Name of the task role, for policies attached next to the module's own."
  value       = aws_iam_role.task.name
}

output "run_policy_json" {
  description = "Policy letting the starter run this task in started_in.cluster_arn and pass its two roles (null without started_in)."
  value       = var.started_in == null ? null : data.aws_iam_policy_document.run[0].json
}
