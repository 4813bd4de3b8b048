"""Locales: zh-CN and English, chosen per user (saved), else by cookie, else by the browser."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import g, request
from flask_babel import Babel
from flask_babel import gettext as _

from formwarden.config import DEFAULT_ZONE, instance_zone

LOCALES = {"zh-CN": "zh_CN", "en": "en"}
COOKIE = "fw_locale"
babel = Babel()


def current_locale() -> str:
    """The form-definition locale key ("zh-CN" or "en") for this request."""
    actor = g.get("actor")
    if actor is not None and actor.locale in LOCALES:
        return actor.locale
    cookie = request.cookies.get(COOKIE)
    if cookie in LOCALES:
        return cookie
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return "en" if best == "en" else "zh-CN"


def current_zone() -> ZoneInfo:
    """The reader's time zone: their account's, else the instance's."""
    actor = g.get("actor")
    try:
        return ZoneInfo((actor.time_zone if actor is not None else "") or instance_zone())
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local_now() -> dt.datetime:
    """Now in the reader's time zone (what "today" means to them)."""
    return dt.datetime.now(dt.UTC).astimezone(current_zone())


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time in the reader's time zone."""
    if value is None:
        return ""
    return value.replace(tzinfo=dt.UTC).astimezone(current_zone()).strftime(fmt)


def _babel_locale() -> str:
    return LOCALES[current_locale()]


def init_i18n(app) -> None:
    folder = Path(__file__).resolve().parent.parent / "translations"
    babel.init_app(app, locale_selector=_babel_locale, default_translation_directories=str(folder),
                   default_locale="zh_CN")


def zone_label(zone: str) -> str:
    """A time zone as people call it (China's "Beijing time"; others by their name)."""
    return _("Beijing time") if zone in ("Asia/Shanghai", "Asia/Chongqing", "PRC") else zone
