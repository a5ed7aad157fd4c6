output "arn" {
  description = "ARN of the role (what the service is told to use)."
  value       = aws_iam_role.this.arn
}

output "name" {
  description = "Name of the role."
  value       = aws_iam_role.this.name
}
