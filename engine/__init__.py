"""AQA Studio engine: everything that is neither GUI nor a network definition."""
