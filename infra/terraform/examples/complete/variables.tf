variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "orderstream"
}

variable "vpc_id" {
  description = "VPC holding the private subnets (with NAT or VPC endpoints for ECR, logs, EventBridge, S3)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Three private subnets in three Availability Zones, shared by the brokers and the tasks."
  type        = list(string)
}

variable "kafka_version" {
  description = "Apache Kafka version of the provisioned MSK cluster."
  type        = string
  default     = "3.8.x"
}

variable "msk_serverless" {
  description = "Use MSK Serverless instead of a provisioned cluster."
  type        = bool
  default     = false
}

variable "image_tag" {
  description = "Tag of the orderstream image in the ECR repository this configuration creates (push it before the services start)."
  type        = string
}

variable "app_id" {
  description = "ORDERSTREAM_APP_ID: faust app id and prefix of every consumer group (<app_id>-<service>)."
  type        = string
  default     = "orderstream"
}

variable "topic_partitions" {
  description = "Partitions of every orderstream topic (ORDERSTREAM_TOPIC_PARTITIONS); bounds each service's max task count."
  type        = number
  default     = 6
}

variable "processing_guarantee" {
  description = "faust processing guarantee of the workers: at_least_once or exactly_once (needs Kafka >= 3.8 under IAM auth)."
  type        = string
  default     = "at_least_once"

  validation {
    condition     = contains(["at_least_once", "exactly_once"], var.processing_guarantee)
    error_message = "processing_guarantee must be at_least_once or exactly_once."
  }
}

variable "reorder_timeout_seconds" {
  description = "ORDERSTREAM_REORDER_TIMEOUT of the sequencer: how long a sequence gap stays open."
  type        = number
  default     = 30
}

variable "service_scaling" {
  description = "Task count bounds of each service; max is capped by topic_partitions."
  type = map(object({
    min_capacity = number
    max_capacity = number
  }))
  default = {
    sequencer = { min_capacity = 1, max_capacity = 6 }
    router    = { min_capacity = 1, max_capacity = 3 }
    loyalty   = { min_capacity = 1, max_capacity = 6 }
    bridge    = { min_capacity = 1, max_capacity = 3 }
  }
}

variable "event_archive_retention_days" {
  description = "Days the EventBridge archive keeps events for replay."
  type        = number
  default     = 30
}

variable "claim_check_retention_days" {
  description = "Days oversized event payloads stay in the claim-check bucket."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Retention of every log group, in days."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified by the lag and DLQ alarms."
  type        = list(string)
  default     = []
}

variable "statements_worker_style" {
  description = "How statement steps reach ECS: \"run_task\" (one task per step, nothing idle between runs) or \"activity\" (the statements-worker pool polls an activity)."
  type        = string
  default     = "run_task"

  validation {
    condition     = contains(["activity", "run_task"], var.statements_worker_style)
    error_message = "statements_worker_style must be activity or run_task."
  }
}

variable "statements_schedule_expression" {
  description = "EventBridge Scheduler expression of the monthly statements run (UTC); the run states the month before."
  type        = string
  default     = "cron(0 3 1 * ? *)"
}

variable "statements_max_workers" {
  description = "Most tasks of the statements-worker pool (Activities style)."
  type        = number
  default     = 6
}

variable "webhook_domain_name" {
  description = "Name of the partner webhook endpoint (a record in webhook_private_zone_id, covered by webhook_certificate_arn)."
  type        = string
}

variable "webhook_certificate_arn" {
  description = "ACM certificate of webhook_domain_name for the receiver's internal ALB."
  type        = string
}

variable "webhook_private_zone_id" {
  description = "Route 53 private hosted zone of the VPC that holds webhook_domain_name."
  type        = string
}

variable "webhook_rate_limit_per_second" {
  description = "Invocations per second the partner webhook's API destination allows."
  type        = number
  default     = 10
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = { Project = "orderstream" }
}
