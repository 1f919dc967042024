"""My Page's forms (flask-wtf), labelled in the visitor's language when they are made.

Each form is made per request by its function, so its labels and messages are in the language of
that request. CSRF is the page kernel's (checked on every POST to the blueprint), not the form's.
Each action form carries a ``client_id`` made when the page is drawn: sending it twice does it once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, NumberRange, Optional, Regexp

from server.site import gettext


class PageForm(FlaskForm):  # type: ignore[misc]
    class Meta:
        csrf = False  # the page kernel checks every POST's token


def _choices(pairs: list[tuple[str, str]]) -> list[Any]:
    return [SelectChoice(value, label) for value, label in pairs]


def _client_id() -> Any:
    return HiddenField(default=lambda: f"web-{uuid.uuid4()}", validators=[Regexp(r"^web-[0-9a-f-]{36}$")])


def login_form() -> Any:
    class Login(PageForm):
        login_id = StringField(
            gettext("Login ID"), validators=[InputRequired(gettext("Enter your login ID."))]
        )
        password = PasswordField(
            gettext("Password"), validators=[InputRequired(gettext("Enter your password."))]
        )
        next = HiddenField()

    return Login()


def code_form() -> Any:
    class ActivationCode(PageForm):
        code = StringField(
            gettext("Activation code"), validators=[InputRequired(gettext("Enter the code on your receipt."))]
        )

    return ActivationCode()


def new_login_form() -> Any:
    class NewLogin(PageForm):
        code = HiddenField()
        login_id = StringField(
            gettext("Login ID"),
            validators=[InputRequired(gettext("Choose a login ID.")), Length(max=64)],
        )
        password = PasswordField(
            gettext("Password"),
            validators=[
                InputRequired(gettext("Choose a password.")),
                Length(min=10, max=256, message=gettext("A password has 10 to 256 characters.")),
            ],
        )
        confirm = PasswordField(
            gettext("Password again"),
            validators=[EqualTo("password", message=gettext("The two passwords differ. Type them again."))],
        )

    return NewLogin()


def change_id_form() -> Any:
    class ChangeId(PageForm):
        new_id = StringField(
            gettext("New MyKey ID"),
            validators=[InputRequired(gettext("Enter the new MyKey ID.")), Length(max=16)],
        )

    return ChangeId()


def coupon_form(destinations: list[tuple[str, str]]) -> Any:
    class Coupon(PageForm):
        client_id = _client_id()
        code = StringField(
            gettext("Coupon code"), validators=[InputRequired(gettext("Enter the coupon code."))]
        )
        destination = SelectField(
            gettext("Points to receive"),
            choices=_choices([("", gettext("My home municipality's")), *destinations]),
            validate_choice=False,
        )

    return Coupon()


def home_form(current: str | None, towns: list[tuple[str, str]]) -> Any:
    class Home(PageForm):
        municipality = SelectField(
            gettext("Home municipality"),
            default=current or "",
            choices=_choices([("", gettext("None")), *towns]),
            validators=[Optional(), Regexp(r"^\d{6}$", message=gettext("A municipality code has 6 digits."))],
            validate_choice=False,
        )

    return Home()


def support_form(events: list[tuple[str, str]]) -> Any:
    class Support(PageForm):
        client_id = _client_id()
        point_code = SelectField(gettext("Event"), choices=_choices(events), validate_choice=False)
        amount = IntegerField(
            gettext("Points"),
            validators=[
                InputRequired(gettext("Enter the points.")),
                NumberRange(
                    min=1, max=10_000_000, message=gettext("Enter a whole number of points, 1 or more.")
                ),
            ],
        )
        nickname = StringField(
            gettext("Nickname shown to the organiser (optional)"), validators=[Optional(), Length(max=32)]
        )

    return Support()


def claim_form() -> Any:
    class Claim(PageForm):
        client_id = _client_id()
        reward = HiddenField(validators=[InputRequired()])

    return Claim()


def partner_link_form(choices: list[tuple[str, str]]) -> Any:
    class PartnerLink(PageForm):
        partner = SelectField(gettext("Partner"), choices=_choices(choices), validate_choice=False)
        member = StringField(
            gettext("Your member number there"),
            validators=[InputRequired(gettext("Enter your member number.")), Length(max=64)],
        )

    return PartnerLink()
