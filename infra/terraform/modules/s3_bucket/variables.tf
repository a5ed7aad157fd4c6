variable "bucket_prefix" {
  description = "Prefix of the bucket's name; AWS appends a unique suffix."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the objects (SSE-KMS with a bucket key)."
  type        = string
}

variable "expiration_days" {
  description = "Days after which current objects expire; null keeps them."
  type        = number
  default     = null
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
