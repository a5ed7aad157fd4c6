variable "name" {
  description = "Name of the job (container, task family suffix, rule suffix), e.g. \"gold-welcome\"."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"orderstream\"."
  type        = string
}

variable "description" {
  description = "What the rule is for."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the task runs in (the target's ARN)."
  type        = string
}

variable "image" {
  description = "The orderstream image (repository URL and immutable tag or digest)."
  type        = string
}

variable "command" {
  description = "Default command after the entrypoint; the input template overrides it per event."
  type        = list(string)
}

variable "environment" {
  description = "ORDERSTREAM_* variables of the container; names must be fields of the job's settings class."
  type        = map(string)
}

variable "task_policy_statements" {
  description = "Statements of the task role, each on exact resources."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
}

variable "event_bus_name" {
  description = "Bus the rule listens on."
  type        = string
}

variable "event_pattern" {
  description = "EventBridge event pattern (JSON) of the events that start a task."
  type        = string
}

variable "input_paths" {
  description = "Input transformer paths: placeholder name => JSONPath into the event."
  type        = map(string)
}

variable "input_template" {
  description = "Input transformer template: the RunTask overrides ({\"containerOverrides\": [...]}) with <placeholders>."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the task."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the task."
  type        = list(string)
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory, in MiB."
  type        = number
  default     = 512
}

variable "maximum_retry_attempts" {
  description = "Retries of a RunTask call that failed (throttling, capacity) before the event goes to the DLQ."
  type        = number
  default     = 20
}

variable "maximum_event_age_in_seconds" {
  description = "Age after which an event whose task could not be started goes to the DLQ."
  type        = number
  default     = 3600
}

variable "kms_key_arn" {
  description = "KMS key for the log group and the DLQ."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the task's log group, in days."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when events land in the DLQ."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
