"""The rule book and emission: what a closed segment or graph run emits, through LaunchDarkly's trackers."""
