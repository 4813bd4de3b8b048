"""Account lifecycle checks, run by the scheduler (see jobs/cron.py): an account that expires
within 7 days raises an `account_expiring` alert once (accounts stop by themselves when their
expiry passes: sign-in, sessions and tokens all check it)."""
from __future__ import annotations

import datetime as dt

from formwarden.audit.alerts import raise_alert
from formwarden.auth.people import EXPIRING_DAYS, expiring
from formwarden.forms.messages import N_
from formwarden.models import Alert, utcnow


def check_accounts() -> str:
    now = utcnow()
    raised = 0
    for user in expiring(now):
        recent = Alert.select().where(Alert.rule == "account_expiring", Alert.subject == user.username,
                                      Alert.created_at > now - dt.timedelta(days=EXPIRING_DAYS)).exists()
        if recent:
            continue
        raise_alert("account_expiring", user.username, N_("account %(name)s expires on %(at)s"),
                    {"name": user.username, "at": f"{user.expires_at:%Y-%m-%dT%H:%M:%S}Z"}, origin="accounts")
        raised += 1
    return f"{raised} expiring account alert(s)"
