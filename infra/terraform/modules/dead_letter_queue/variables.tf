variable "name" {
  description = "Name of the queue."
  type        = string
}

variable "rule_arn" {
  description = "ARN of the EventBridge rule whose target parks events here (the only sender the queue policy allows); null: no queue policy."
  type        = string
  default     = null
}

variable "alarm_description" {
  description = "What it means when the queue is not empty."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the queue; its policy must let events.amazonaws.com use it."
  type        = string
}

variable "alarm_actions" {
  description = "ARNs notified when the queue holds messages."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
