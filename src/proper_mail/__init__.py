"""proper_mail: application email for Python."""
