variable "name" {
  description = "Name of the receiver (ECS service, container, resource suffix), e.g. \"partner-webhook\"."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"orderstream\"."
  type        = string
}

variable "region" {
  description = "AWS region (ORDERSTREAM_AWS_REGION of the receiver)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the receiver runs in."
  type        = string
}

variable "image" {
  description = "The orderstream image (repository URL and immutable tag or digest)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the receiver, its internal ALB and the resource gateway."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the receiver tasks, the ALB and the resource gateway (two or more AZs)."
  type        = list(string)
}

variable "domain_name" {
  description = "Name the API destination calls (https://<domain_name><path>); must match certificate_arn and resolve in private_zone_id."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of domain_name for the ALB's HTTPS listener."
  type        = string
}

variable "private_zone_id" {
  description = "Route 53 private hosted zone of the VPC where domain_name points at the ALB."
  type        = string
}

variable "path" {
  description = "Path of the receiver's endpoint (orderstream.webhook.server.PATH)."
  type        = string
  default     = "/webhooks/loyalty"
}

variable "port" {
  description = "Port the receiver listens on in its container (ORDERSTREAM_WEBHOOK_PORT)."
  type        = number
  default     = 8080
}

variable "api_key_header" {
  description = "Header carrying the API key (ORDERSTREAM_WEBHOOK_API_KEY_HEADER and the connection's key name)."
  type        = string
  default     = "x-api-key"
}

variable "event_bus_name" {
  description = "Bus the rule listens on."
  type        = string
}

variable "event_pattern" {
  description = "EventBridge event pattern (JSON) of the events sent to the receiver."
  type        = string
}

variable "rate_limit_per_second" {
  description = "Invocations per second the API destination allows; EventBridge holds back the rest (and retries them)."
  type        = number
  default     = 10
}

variable "maximum_retry_attempts" {
  description = "Delivery retries (5xx, 429, timeouts: the receiver has 5 s) before the event goes to the DLQ."
  type        = number
  default     = 185
}

variable "maximum_event_age_in_seconds" {
  description = "Age after which an undelivered event goes to the DLQ."
  type        = number
  default     = 86400
}

variable "desired_count" {
  description = "Receiver tasks (two: one per AZ)."
  type        = number
  default     = 2
}

variable "deletion_protection" {
  description = "Protect the ALB from deletion."
  type        = bool
  default     = true
}

variable "delivery_retention_days" {
  description = "Days recorded deliveries are kept (they are what makes a repeat a duplicate)."
  type        = number
  default     = 90
}

variable "kms_key_arn" {
  description = "KMS key for the secret, the store bucket, the log group and the DLQ."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the receiver's log group, in days."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when deliveries land in the DLQ."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
