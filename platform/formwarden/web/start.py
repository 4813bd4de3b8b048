"""The first run: an administrator of an instance with no forms yet lands here, on four steps
(a first form from a template, people, an off-site backup target, the recovery kit), each
ticked when done, each a link to where it is done."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _

from formwarden.access.permissions import Perm, has_perm
from formwarden.auth.users import active_people
from formwarden.backup.targets import TargetError, configured
from formwarden.catalog import designs
from formwarden.config import instance_path
from formwarden.crypto.kit import kit_status
from formwarden.errors import Forbidden
from formwarden.forms import versions
from formwarden.http.context import actor
from formwarden.http.guard import requires

bp = Blueprint("start", __name__)


@dataclass(frozen=True)
class Step:
    title: str
    done: bool
    how: str
    url: str | None  # None: the reader may not do this step (someone else does)


def steps() -> list[Step]:
    who = actor()
    try:
        offsite = len(configured()) > 1
    except TargetError:
        offsite = False
    return [
        Step(_("Create your first form"), bool(versions.all_forms()),
             _("Start from a template (customer, follow-up, contract, after-sales ticket, visit report) or from an "
               "empty form, then publish it."),
             url_for("design.index") + "#templates" if has_perm(who, Perm.FORMS_MANAGE) else None),
        Step(_("Add the people who work with it"), active_people() > 1,
             _("An account per person, with the roles that decide what they see."),
             url_for("people.list_people") if has_perm(who, Perm.USERS_MANAGE) else None),
        Step(_("Keep a backup away from this server"), offsite,
             _("Set FORMWARDEN_BACKUP_TARGETS to a second disk or an S3-compatible bucket; backups then go to both."),
             url_for("backups.index") if has_perm(who, Perm.BACKUPS) else None),
        Step(_("Export the recovery kit"), bool(kit_status(instance_path())["exported_at"]),
             _("Without the keys in it no archive can be restored: keep it away from this server."),
             url_for("backups.index") if has_perm(who, Perm.BACKUPS) else None),
    ]


SETUP_PERMS = (Perm.FORMS_MANAGE, Perm.USERS_MANAGE, Perm.BACKUPS)


@bp.route("/start")
@requires(Perm.ACCOUNT)
def start():
    """For those who set the instance up (forms, people or backups); nobody else learns how."""
    if not any(has_perm(actor(), p) for p in SETUP_PERMS):
        raise Forbidden("the getting-started steps are for administrators and form designers",
                        code="missing_permission")
    all_steps = steps()
    return render_template("start.html", steps=all_steps, done=sum(s.done for s in all_steps),
                           templates=designs.templates() if has_perm(actor(), Perm.FORMS_MANAGE) else {})
