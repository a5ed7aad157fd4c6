output "bucket" {
  description = "Name of the bucket (the value of the ORDERSTREAM_*_BUCKET setting of its writer)."
  value       = aws_s3_bucket.this.bucket
}

output "arn" {
  description = "ARN of the bucket; grants name \"<arn>/<prefix>*\"."
  value       = aws_s3_bucket.this.arn
}
