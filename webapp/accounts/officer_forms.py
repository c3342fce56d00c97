"""Forms of the officer and admin sign-in (password, then a TOTP or backup code)."""
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from webapp.accounts.passwords import MAX_LENGTH
from webapp.forms import Form


class OfficerLoginForm(Form):
    email = EmailField("Work email", validators=[
        DataRequired("Enter your work email address."), Length(max=254),
        Email("Enter an email address like name@met.police.uk.")])
    password = PasswordField("Password", validators=[
        DataRequired("Enter your password."), Length(max=MAX_LENGTH)])


class TotpForm(Form):
    code = StringField("Code", validators=[
        DataRequired("Enter the 6-digit code from your authenticator app."), Length(max=32)])
