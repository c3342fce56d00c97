"""Forms of the officer and admin sign-in (password, then a TOTP or backup code)."""
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from webapp.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from webapp.platform.forms import Form


class OfficerLoginForm(Form):
    email = EmailField("Work email", validators=[
        DataRequired("Enter your work email address."), Length(max=254),
        Email("Enter an email address like name@met.police.uk.")])
    password = PasswordField("Password", validators=[
        DataRequired("Enter your password."), Length(max=MAX_LENGTH)])


class TotpForm(Form):
    code = StringField("Code", validators=[
        DataRequired("Enter the 6-digit code from your authenticator app."), Length(max=32)])


class PasswordChangeForm(Form):
    current_password = PasswordField("Current password", validators=[
        DataRequired("Enter your current password."), Length(max=MAX_LENGTH)])
    new_password = PasswordField("New password", validators=[
        DataRequired("Enter a new password."),
        Length(min=MIN_LENGTH, max=MAX_LENGTH,
               message=f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters.")])
    confirm_password = PasswordField("New password again", validators=[
        DataRequired("Enter the new password again."),
        EqualTo("new_password", "The two new passwords are different.")])
