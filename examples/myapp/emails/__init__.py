"""One class per email."""
