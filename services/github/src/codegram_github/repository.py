"""Every query of the github service: none yet (its tables come with its use cases)."""
