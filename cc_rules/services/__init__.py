"""Every write. Each service is atomic, locks the agent row first and documents its invariant."""
