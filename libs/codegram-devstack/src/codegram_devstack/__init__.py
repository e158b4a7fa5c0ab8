"""The local fleet: embedded engines, database bootstrap, the GitHub stand-in and the process runner."""
