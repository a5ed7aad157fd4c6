variable "bus_name" {
  description = "Name of the custom event bus the bridge publishes to (ORDERSTREAM_EVENT_BUS)."
  type        = string
}

variable "rules" {
  description = "Rules on the bus, by name: an EventBridge event pattern (JSON) and a description. Each gets an SQS target with its own delivery DLQ."
  type = map(object({
    description   = string
    event_pattern = string
  }))
}

variable "archive_retention_days" {
  description = "Days the archive keeps every event published to the bus, for replay (0 = forever)."
  type        = number
  default     = 30
}

variable "maximum_retry_attempts" {
  description = "Delivery retries of each target before the event goes to the target's DLQ."
  type        = number
  default     = 185
}

variable "maximum_event_age_in_seconds" {
  description = "Age after which an undelivered event goes to the target's DLQ."
  type        = number
  default     = 86400
}

variable "kms_key_arn" {
  description = "KMS key encrypting the target queues and their DLQs; its policy must let events.amazonaws.com use it."
  type        = string
}

variable "alarm_actions" {
  description = "ARNs notified when a target DLQ receives messages."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
