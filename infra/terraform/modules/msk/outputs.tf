output "cluster_arn" {
  description = "ARN of the cluster (provisioned or serverless)."
  value       = local.cluster_arn
}

output "cluster_name" {
  description = "Name of the cluster, the \"Cluster Name\" dimension of its CloudWatch metrics."
  value       = var.cluster_name
}

output "bootstrap_brokers_sasl_iam" {
  description = "Bootstrap servers for SASL/IAM over TLS (port 9098): the value of ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS."
  value       = local.provisioned ? aws_msk_cluster.this[0].bootstrap_brokers_sasl_iam : aws_msk_serverless_cluster.this[0].bootstrap_brokers_sasl_iam
}

output "topic_arn_prefix" {
  description = "ARN prefix of the cluster's topics; append \"/<topic>\"."
  value       = replace(local.cluster_arn, ":cluster/", ":topic/")
}

output "group_arn_prefix" {
  description = "ARN prefix of the cluster's consumer groups; append \"/<group>\"."
  value       = replace(local.cluster_arn, ":cluster/", ":group/")
}

output "transactional_id_arn_prefix" {
  description = "ARN prefix of the cluster's transactional ids; append \"/<id>\"."
  value       = replace(local.cluster_arn, ":cluster/", ":transactional-id/")
}
