"""One-off jobs: Fargate tasks an EventBridge rule starts per matching event (ECS RunTask targets)."""
