"""The github service's use cases (sync requests, repositories, languages, contributions): nothing yet."""
