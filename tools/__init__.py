"""Developer tools that are not part of the deployed services (test oracles, generators)."""
