"""Configuration modules."""
