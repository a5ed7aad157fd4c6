"""The partner webhook: the HTTP receiver an EventBridge API destination delivers loyalty tier changes to."""
