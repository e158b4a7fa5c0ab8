"""Every query of the social service: none yet (its tables come with its use cases)."""
