"""The github service: GitHub repositories, languages and contributions, synced in the background."""
