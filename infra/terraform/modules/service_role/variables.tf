variable "name" {
  description = "Name of the role."
  type        = string
}

variable "service" {
  description = "Service principal that assumes the role, e.g. \"events.amazonaws.com\"."
  type        = string
}

variable "policies" {
  description = "Inline policies of the role: name suffix => policy JSON (from aws_iam_policy_document)."
  type        = map(string)
}

variable "tags" {
  description = "Tags added to the role."
  type        = map(string)
  default     = {}
}
