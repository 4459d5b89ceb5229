from ..main import app
from .base_email import BaseEmail


class WelcomeEmail(BaseEmail):
    subject = "Welcome to MyApp"

    def __init__(self, user, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        self.dashboard_url = app.url_for("Dashboard.index", _full=True)
