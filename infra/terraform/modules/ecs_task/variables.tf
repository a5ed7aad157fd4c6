variable "name" {
  description = "Container name, and suffix of the task family and roles (e.g. \"statements-worker\")."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"orderstream\"."
  type        = string
}

variable "image" {
  description = "Container image (repository URL and immutable tag or digest); the one orderstream image."
  type        = string
}

variable "command" {
  description = "Exec-form arguments after the image entrypoint `orderstream`, e.g. [\"statements\", \"worker\"]."
  type        = list(string)
}

variable "environment" {
  description = "ORDERSTREAM_* variables of the container; names must be fields of its settings class."
  type        = map(string)
}

variable "secrets" {
  description = "Environment variables injected from Secrets Manager: name => secret ARN. The execution role may read exactly these."
  type        = map(string)
  default     = {}
}

variable "task_policy_statements" {
  description = "Statements of the task role; each names exact resources (a \"*\" needs a written reason at the caller)."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
}

variable "started_in" {
  description = "Set when something else (a rule target, a state machine) starts this task: the cluster it starts it in; run_policy_json then grants exactly that."
  type = object({
    cluster_arn = string
  })
  default = null
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

variable "port" {
  description = "Container port the process listens on (null: none)."
  type        = number
  default     = null
}

variable "health_check_path" {
  description = "HTTP path on the container port that answers 200 when healthy (null: no container health check)."
  type        = string
  default     = null
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL (ECS stopTimeout, at most 120 on Fargate)."
  type        = number
  default     = 30

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds on Fargate."
  }
}

variable "log_retention_days" {
  description = "Retention of the container's log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key encrypting the log group (and decrypting the injected secrets)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
