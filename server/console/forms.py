"""The console's forms: what each page asks, checked as a browser shows it beside each field.

Labels and messages are marked with ``N_`` (English, the catalogue's source) and put in the
visitor's language when a form is made (:class:`ConsoleForm`), so one class serves both languages.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from mkp_core.i18n import N_
from server.site import gettext
from server.staff.service import EMAIL

REQUIRED = N_("Fill this in.")


class ConsoleForm(FlaskForm):  # type: ignore[misc]  # flask-wtf ships no types
    """A form whose labels speak the visitor's language, and whose errors do after validation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self:
            field.label.text = gettext(field.label.text)

    def validate(self, extra_validators: Any = None) -> bool:
        valid: bool = super().validate(extra_validators)
        for field in self:
            field.errors = [gettext(str(e)) for e in field.errors]
        return valid


class ApplyForm(ConsoleForm):
    """A municipality applying to join: its code, the department that runs its points, a contact."""

    municipality = StringField(
        N_("Municipality code (6 digits)"),
        validators=[DataRequired(REQUIRED), Regexp(r"^[0-9]{6}$", message=N_("Six digits, as 142018."))],
    )
    department = StringField(
        N_("Department"), validators=[DataRequired(REQUIRED), Length(max=128, message=N_("Too long."))]
    )
    contact_name = StringField(
        N_("Contact person"), validators=[DataRequired(REQUIRED), Length(max=128, message=N_("Too long."))]
    )
    contact_email = EmailField(
        N_("Contact e-mail"),
        validators=[
            DataRequired(REQUIRED),
            Regexp(EMAIL.pattern, message=N_("An e-mail address, as name@city.example.jp.")),
        ],
    )


class JoinForm(ConsoleForm):
    """An invitation taken up: the login ID and password of the new member of staff."""

    login_id = StringField(
        N_("Login ID"),
        validators=[
            DataRequired(REQUIRED),
            Regexp(r"^[A-Za-z0-9._@-]{3,64}$", message=N_("3 to 64 letters, digits or . _ @ -")),
        ],
    )
    password = PasswordField(
        N_("Password"),
        validators=[DataRequired(REQUIRED), Length(min=12, max=200, message=N_("At least 12 characters."))],
    )
    confirm = PasswordField(
        N_("Password again"),
        validators=[DataRequired(REQUIRED), EqualTo("password", message=N_("The two passwords differ."))],
    )


class LoginForm(ConsoleForm):
    login_id = StringField(N_("Login ID"), validators=[DataRequired(REQUIRED)])
    password = PasswordField(N_("Password"), validators=[DataRequired(REQUIRED)])
