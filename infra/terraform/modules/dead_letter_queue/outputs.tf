output "arn" {
  description = "ARN of the queue (the target's dead_letter_config)."
  value       = aws_sqs_queue.this.arn
}

output "url" {
  description = "URL of the queue, to read what was parked."
  value       = aws_sqs_queue.this.id
}
