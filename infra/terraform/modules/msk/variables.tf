variable "cluster_name" {
  description = "Name of the MSK cluster; also the \"Cluster Name\" dimension of its CloudWatch metrics."
  type        = string
}

variable "serverless" {
  description = "Create MSK Serverless instead of a provisioned cluster (no broker sizing, configuration or broker logs; RF 3 and min ISR 2 are fixed by the service)."
  type        = bool
  default     = false
}

variable "kafka_version" {
  description = "Apache Kafka version of the provisioned cluster (IAM auth needs >= 2.7.1; WriteTxnMarkers under IAM needs >= 3.8)."
  type        = string
  default     = "3.8.x"
}

variable "subnet_ids" {
  description = "Private subnets, one per Availability Zone; three for a provisioned cluster."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) == 3
    error_message = "Give exactly three subnets in three different Availability Zones."
  }
}

variable "security_group_ids" {
  description = "Security groups of the brokers; they must admit the tasks on port 9098 (SASL/IAM over TLS)."
  type        = list(string)
}

variable "broker_instance_type" {
  description = "Broker instance type of the provisioned cluster."
  type        = string
  default     = "kafka.m7g.large"
}

variable "broker_count" {
  description = "Number of brokers; a multiple of the three AZs."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count >= 3 && var.broker_count % 3 == 0
    error_message = "broker_count must be a positive multiple of 3 (one or more brokers per AZ)."
  }
}

variable "broker_volume_size" {
  description = "EBS volume per broker, in GiB."
  type        = number
  default     = 100
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for data at rest and the broker log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the broker log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
