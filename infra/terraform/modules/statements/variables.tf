variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"orderstream\"."
  type        = string
}

variable "worker_style" {
  description = "How steps reach ECS: \"activity\" (a Fargate service polls the activity) or \"run_task\" (one task per step, ecs:runTask.waitForTaskToken)."
  type        = string
  default     = "run_task"

  validation {
    condition     = contains(["activity", "run_task"], var.worker_style)
    error_message = "worker_style must be activity or run_task."
  }
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the workers run in."
  type        = string
}

variable "cluster_name" {
  description = "Name of the ECS cluster (resource id of the pool's autoscaling target)."
  type        = string
}

variable "image" {
  description = "The orderstream image (repository URL and immutable tag or digest)."
  type        = string
}

variable "environment" {
  description = "Kafka connection settings (KafkaSettings fields) shared with the other services; the module adds the statements ones."
  type        = map(string)
}

variable "subnet_ids" {
  description = "Private subnets of the worker tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the worker tasks (outbound to MSK and AWS APIs)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for the bucket, the log groups, the schedule and its DLQ."
  type        = string
}

variable "msk_cluster_arn" {
  description = "ARN of the MSK cluster holding the loyalty table's changelog."
  type        = string
}

variable "loyalty_group" {
  description = "Consumer group (faust app id) of the loyalty service, <app_id>-loyalty: its table's changelog is <group>-loyalty-ledger-changelog."
  type        = string
}

variable "event_bus_name" {
  description = "Bus that receives loyalty.statements_issued."
  type        = string
}

variable "event_bus_arn" {
  description = "ARN of that bus (the state machine's events:PutEvents grant)."
  type        = string
}

variable "schedule_expression" {
  description = "When the schedule starts a run; the run states the month before the scheduled time in UTC, so fire on the 1st (UTC)."
  type        = string
  default     = "cron(0 3 1 * ? *)"
}

variable "schedule_timezone" {
  description = "Time zone of the schedule expression."
  type        = string
  default     = "UTC"
}

variable "max_shards" {
  description = "ORDERSTREAM_STATEMENTS_MAX_SHARDS: shards per run (0 = one per partition). At most a few hundred: the shard summaries share the 256 KB state payload."
  type        = number
  default     = 0
}

variable "max_concurrency" {
  description = "Map MaxConcurrency: shards worked on at once (RunTask style: tasks started at once)."
  type        = number
  default     = 10
}

variable "heartbeat_seconds" {
  description = "HeartbeatSeconds of every worker step: a step silent for longer is retried. Covers a Fargate task's start (image pull) in the RunTask style."
  type        = number
  default     = 300
}

variable "heartbeat_interval_seconds" {
  description = "ORDERSTREAM_STATEMENTS_HEARTBEAT_INTERVAL: how often a working worker heartbeats at most; well below heartbeat_seconds."
  type        = number
  default     = 20
}

variable "timeout_seconds" {
  description = "TimeoutSeconds of one worker step."
  type        = number
  default     = 3600
}

variable "retry_interval_seconds" {
  description = "Retry IntervalSeconds of a failed step."
  type        = number
  default     = 30
}

variable "retry_max_attempts" {
  description = "Retry MaxAttempts of a failed step; then the shard is reported as failed in the run's output."
  type        = number
  default     = 3
}

variable "retry_backoff_rate" {
  description = "Retry BackoffRate of a failed step."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "CPU units of a worker task."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Memory of a worker task, in MiB (a shard's ledgers are held in memory while it is written)."
  type        = number
  default     = 2048
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL of a worker; above the 75 s GetActivityTask socket timeout so a draining worker hands back what a last poll gives it."
  type        = number
  default     = 100

  validation {
    condition     = var.stop_timeout > 75 && var.stop_timeout <= 120
    error_message = "stop_timeout must be above 75 (the long poll) and at most 120 (Fargate)."
  }
}

variable "min_capacity" {
  description = "Fewest workers of the Activities pool (0: none between runs)."
  type        = number
  default     = 0
}

variable "max_capacity" {
  description = "Most workers of the Activities pool."
  type        = number
  default     = 6
}

variable "idle_minutes" {
  description = "Minutes without any activity event before the pool scales in to min_capacity."
  type        = number
  default     = 30
}

variable "statements_retention_days" {
  description = "Days statements are kept (null: kept)."
  type        = number
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the workers' and the state machine's log groups, in days."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when a run fails."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
