"""CodeGram's edge gateway: the only door to the fleet."""
