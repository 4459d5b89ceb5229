"""myapp: the guide's example app, working end to end with proper_mail."""
