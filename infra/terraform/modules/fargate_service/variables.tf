variable "name" {
  description = "Service name (sequencer, router, loyalty, bridge); also the ECS service, task family and container name suffix."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"orderstream\"."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string
}

variable "cluster_name" {
  description = "Name of the ECS cluster (the ClusterName dimension of Container Insights metrics)."
  type        = string
}

variable "image" {
  description = "Container image (repository URL and immutable tag or digest); one image for every service."
  type        = string
}

variable "command" {
  description = "Exec-form arguments after the image entrypoint `orderstream`, e.g. [\"worker\"]."
  type        = list(string)
}

variable "environment" {
  description = "ORDERSTREAM_* variables of the container; names must be fields of the service's settings class."
  type        = map(string)
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Task memory, in MiB."
  type        = number
  default     = 1024
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "health_check_port" {
  description = "Port that serves GET /health inside the container."
  type        = number
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL (ECS stopTimeout, at most 120 on Fargate)."
  type        = number
  default     = 60

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds on Fargate."
  }
}

variable "log_retention_days" {
  description = "Retention of the service's log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the service's log group."
  type        = string
}

variable "msk_cluster_arn" {
  description = "ARN of the MSK cluster the service connects to."
  type        = string
}

variable "msk_cluster_name" {
  description = "Name of the MSK cluster (\"Cluster Name\" dimension of the consumer-lag metrics)."
  type        = string
}

variable "read_topics" {
  description = "Topics the service consumes; granted DescribeTopic and ReadData, and summed for the lag metric."
  type        = list(string)

  validation {
    condition     = length(var.read_topics) > 0
    error_message = "A service must read at least one topic."
  }
}

variable "write_topics" {
  description = "Topics the service produces to; granted DescribeTopic and WriteData."
  type        = list(string)
}

variable "consumer_group" {
  description = "The service's consumer group id (<app_id>-<service>)."
  type        = string
}

variable "faust_internal_topics" {
  description = "Grant the faust worker its own topics and transactional ids, all prefixed by the consumer group."
  type        = bool
  default     = false
}

variable "extra_policy_statements" {
  description = "More task-role statements (e.g. the bridge's events:PutEvents); each must name exact resources."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.extra_policy_statements : !contains(s.resources, "*")])
    error_message = "Extra statements must name their resources; \"*\" is not allowed."
  }
}

variable "partition_count" {
  description = "Partitions of the topics the service reads; more tasks than this would sit idle."
  type        = number
}

variable "min_capacity" {
  description = "Fewest running tasks."
  type        = number
  default     = 1
}

variable "max_capacity" {
  description = "Most running tasks; at most partition_count."
  type        = number
  default     = 3

  validation {
    condition     = var.max_capacity >= var.min_capacity && var.max_capacity <= var.partition_count
    error_message = "max_capacity must be between min_capacity and partition_count."
  }
}

variable "desired_count" {
  description = "Tasks at creation; autoscaling owns the count afterwards (ignored on later applies)."
  type        = number
  default     = 1
}

variable "lag_target_per_task" {
  description = "Target backlog (records of consumer lag) per running task for target tracking."
  type        = number
  default     = 1000
}

variable "lag_alarm_threshold" {
  description = "Total consumer lag of the group above which the lag alarm fires."
  type        = number
  default     = 50000
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
