from proper_mail import EmailMessage

from ..tasks import send_email_task


class BaseEmail(EmailMessage):
    def send_later(self, *, via=None, **options):
        self.update(**options)
        send_email_task(message=self.serialize(), via=via)
