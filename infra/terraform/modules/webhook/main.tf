# The partner webhook: EventBridge sends loyalty.tier_changed through an API destination (a connection with
# an API key kept in Secrets Manager, a rate limit, a retry policy and a DLQ) to `orderstream webhook serve`,
# an ECS service behind an internal ALB. EventBridge reaches the private endpoint through the connection's
# VPC Lattice resource configuration (a resource gateway in the VPC), over HTTPS on the partner's name.

locals {
  full_name = "${var.name_prefix}-${var.name}"
  endpoint  = "https://${var.domain_name}${var.path}"
}

# ------------------------------------------------------------------------------------------------ API key

data "aws_secretsmanager_random_password" "api_key" {
  password_length     = 48
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "api_key" {
  # checkov:skip=CKV2_AWS_57:Rotating the key means updating the EventBridge connection and restarting the receiver together; done by a new secret version and an apply, not a rotation Lambda.
  name_prefix             = "${local.full_name}-api-key-"
  description             = "API key EventBridge sends to the ${var.name} receiver (and the receiver checks)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "api_key" {
  secret_id     = aws_secretsmanager_secret.api_key.id
  secret_string = data.aws_secretsmanager_random_password.api_key.random_password

  # The data source draws a new password on every plan; the first one stays until rotated on purpose.
  lifecycle {
    ignore_changes = [secret_string]
  }
}

# ------------------------------------------------------------------------------------------------ receiver

module "store" {
  source = "../s3_bucket"

  bucket_prefix   = "${local.full_name}-"
  kms_key_arn     = var.kms_key_arn
  expiration_days = var.delivery_retention_days
  tags            = var.tags
}

module "receiver_task" {
  source = "../ecs_task"

  name        = var.name
  name_prefix = var.name_prefix
  image       = var.image
  command     = ["webhook", "serve"]
  environment = {
    ORDERSTREAM_AWS_REGION             = var.region
    ORDERSTREAM_WEBHOOK_HOST           = "0.0.0.0"
    ORDERSTREAM_WEBHOOK_PORT           = tostring(var.port)
    ORDERSTREAM_WEBHOOK_API_KEY_HEADER = var.api_key_header
    ORDERSTREAM_WEBHOOK_BUCKET         = module.store.bucket
  }
  secrets = {
    ORDERSTREAM_WEBHOOK_API_KEY = aws_secretsmanager_secret.api_key.arn
  }
  task_policy_statements = [
    { sid = "RecordDeliveries", actions = ["s3:PutObject"], resources = ["${module.store.arn}/webhook/loyalty/*"] },
    { sid = "EncryptDeliveries", actions = ["kms:GenerateDataKey"], resources = [var.kms_key_arn] },
  ]
  port               = var.port
  health_check_path  = "/health"
  stop_timeout       = 20
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}

resource "aws_security_group" "gateway" {
  name        = "${local.full_name}-gateway"
  description = "VPC Lattice resource gateway of the ${var.name} connection: HTTPS to the internal ALB only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_security_group" "alb" {
  name        = "${local.full_name}-alb"
  description = "Internal ALB of the ${var.name} receiver: HTTPS from the resource gateway, HTTP to the tasks"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_security_group" "receiver" {
  name        = "${local.full_name}-tasks"
  description = "${var.name} receiver tasks: from the ALB; HTTPS out to S3 and Secrets Manager"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

locals {
  # Who may talk to whom: the resource gateway to the ALB (HTTPS), the ALB to the tasks (the receiver's port).
  sg_hops = {
    gateway_to_alb = {
      from = aws_security_group.gateway.id
      to   = aws_security_group.alb.id
      port = 443
      what = "HTTPS from the VPC Lattice resource gateway (EventBridge) to the internal ALB"
    }
    alb_to_receiver = {
      from = aws_security_group.alb.id
      to   = aws_security_group.receiver.id
      port = var.port
      what = "HTTP from the internal ALB to the receiver tasks"
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "hop" {
  for_each = local.sg_hops

  description                  = each.value.what
  security_group_id            = each.value.from
  referenced_security_group_id = each.value.to
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_ingress_rule" "hop" {
  for_each = local.sg_hops

  description                  = each.value.what
  security_group_id            = each.value.to
  referenced_security_group_id = each.value.from
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "receiver_to_aws_apis" {
  description       = "HTTPS to S3, Secrets Manager, ECR and CloudWatch Logs via NAT or VPC endpoints"
  security_group_id = aws_security_group.receiver.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_lb" "this" {
  # checkov:skip=CKV_AWS_91:An internal ALB in front of one receiver; every request is logged by the receiver (CloudWatch Logs) and counted on its /health.
  # checkov:skip=CKV2_AWS_28:Internal ALB reached only through the VPC Lattice resource gateway; no WAF in that path.
  name                       = substr("${local.full_name}-alb", 0, 32)
  internal                   = true
  load_balancer_type         = "application"
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  desync_mitigation_mode     = "strictest"
  enable_deletion_protection = var.deletion_protection
  tags                       = var.tags
}

resource "aws_lb_target_group" "this" {
  # checkov:skip=CKV_AWS_378:TLS ends at the internal ALB; the hop to the tasks stays inside the VPC, between two security groups that allow only it.
  name        = substr("${local.full_name}-tg", 0, 32)
  port        = var.port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  deregistration_delay = 15
  tags                 = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

resource "aws_route53_record" "this" {
  zone_id = var.private_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

resource "aws_ecs_service" "receiver" {
  name                   = var.name
  cluster                = var.cluster_arn
  task_definition        = module.receiver_task.task_definition_arn
  desired_count          = var.desired_count
  launch_type            = "FARGATE"
  propagate_tags         = "SERVICE"
  enable_execute_command = false

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.receiver.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = module.receiver_task.container_name
    container_port   = var.port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = var.tags

  depends_on = [aws_lb_listener.https]
}

# ------------------------------------------------------------------------------------------------ private path

resource "aws_vpclattice_resource_gateway" "this" {
  name               = "${local.full_name}-gateway"
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids
  security_group_ids = [aws_security_group.gateway.id]
  tags               = var.tags
}

resource "aws_vpclattice_resource_configuration" "this" {
  name                        = "${local.full_name}-receiver"
  resource_gateway_identifier = aws_vpclattice_resource_gateway.this.id
  port_ranges                 = ["443"]
  protocol                    = "TCP"

  resource_configuration_definition {
    dns_resource {
      domain_name     = var.domain_name
      ip_address_type = "IPV4"
    }
  }

  tags = var.tags
}

# ------------------------------------------------------------------------------------------------ sender

resource "aws_cloudwatch_event_connection" "this" {
  name               = local.full_name
  description        = "API key auth for the ${var.name} receiver, reached privately through VPC Lattice."
  authorization_type = "API_KEY"

  auth_parameters {
    api_key {
      key   = var.api_key_header
      value = aws_secretsmanager_secret_version.api_key.secret_string
    }
  }

  invocation_connectivity_parameters {
    resource_parameters {
      resource_configuration_arn = aws_vpclattice_resource_configuration.this.arn
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "this" {
  name                             = local.full_name
  description                      = "loyalty.tier_changed to the ${var.name} receiver."
  invocation_endpoint              = local.endpoint
  http_method                      = "POST"
  invocation_rate_limit_per_second = var.rate_limit_per_second
  connection_arn                   = aws_cloudwatch_event_connection.this.arn
}

resource "aws_cloudwatch_event_rule" "this" {
  name           = local.full_name
  description    = "Every loyalty tier change, to the ${var.name} receiver."
  event_bus_name = var.event_bus_name
  event_pattern  = var.event_pattern
  tags           = var.tags
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "CallThePartner"
    actions   = ["events:InvokeApiDestination"]
    resources = [aws_cloudwatch_event_api_destination.this.arn]
  }
}

module "events_role" {
  source = "../service_role"

  name     = "${local.full_name}-events"
  service  = "events.amazonaws.com"
  policies = { invoke = data.aws_iam_policy_document.events.json }
  tags     = var.tags
}

module "dlq" {
  source = "../dead_letter_queue"

  name              = "${local.full_name}-dlq"
  rule_arn          = aws_cloudwatch_event_rule.this.arn
  alarm_description = "Tier changes could not be delivered to the ${var.name} receiver and were parked here."
  kms_key_arn       = var.kms_key_arn
  alarm_actions     = var.alarm_actions
  tags              = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  rule           = aws_cloudwatch_event_rule.this.name
  event_bus_name = var.event_bus_name
  target_id      = var.name
  arn            = aws_cloudwatch_event_api_destination.this.arn
  role_arn       = module.events_role.arn

  # 5xx and 429 are retried with backoff; other 4xx (a body the receiver refuses) and exhausted retries
  # park the event in the DLQ.
  retry_policy {
    maximum_retry_attempts       = var.maximum_retry_attempts
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = module.dlq.arn
  }
}
