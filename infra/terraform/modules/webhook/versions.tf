terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # EventBridge connections to private endpoints (invocation_connectivity_parameters) and VPC Lattice
      # resource gateways/configurations.
      version = ">= 6.0, < 7.0"
    }
  }
}
