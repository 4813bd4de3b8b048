"""The console's people, roles and teams pages (users.manage): find and filter accounts, create
one (a one-time password shown once), edit profile, roles, teams and expiry, deactivate with a
reason and hand the records over, reactivate, reset a password, deactivate dormant accounts in
bulk; roles with their platform permissions; teams with a manager and members."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from formwarden.access.permissions import Perm
from formwarden.arguments import page_arg
from formwarden.auth import people, roles, teams, throttle
from formwarden.auth.tokens import tokens_of
from formwarden.catalog import handover
from formwarden.errors import DomainError, Invalid
from formwarden.http.context import actor
from formwarden.http.guard import requires
from formwarden.http.i18n import current_locale
from formwarden.web.auth import limiter
from formwarden.web.console import date_value, labels, parse_date, role_title, say

bp = Blueprint("people", __name__, url_prefix="/admin")


@bp.context_processor
def _labels():
    return labels()


def _role_choices():
    return [r for r in roles.list_roles() if r.retired_at is None]


# --- people -------------------------------------------------------------------------------------

@bp.route("/")
@requires(Perm.USERS_MANAGE)
def index():
    return redirect(url_for("people.list_people"))


@bp.route("/people")
@requires(Perm.USERS_MANAGE)
def list_people():
    args = {k: request.args.get(k, "") for k in ("q", "role", "team", "status", "kind")}
    page = page_arg(request.args)
    found, total = people.find_people(actor(), page=page, **args)
    role_titles = {r.name: role_title(r, current_locale()) for r in roles.list_roles()}
    return render_template("people/list.html", people=found, total=total, page=page, args=args, role_titles=role_titles,
                           pages=max(1, -(-total // people.PAGE)), roles=roles.list_roles(),
                           teams=[t for t, _m in teams.list_teams()])


def _person_form(values: dict) -> dict:
    return {"display_name": values.get("display_name", ""), "locale": values.get("locale", "zh-CN"),
            "time_zone": values.get("time_zone", ""), "expires_at": values.get("expires_at", ""),
            "roles": values.getlist("roles") if hasattr(values, "getlist") else values.get("roles", []),
            "teams": values.getlist("teams") if hasattr(values, "getlist") else values.get("teams", [])}


@bp.route("/people/new", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def new_person():
    values = {"username": "", "kind": "person", **_person_form(request.form)}
    error = None
    if request.method == "POST":
        values.update(username=request.form.get("username", "").strip(), kind=request.form.get("kind", "person"))
        try:
            user, password = people.create_person(
                actor(), values["username"], display_name=values["display_name"], roles=values["roles"],
                teams=values["teams"], locale=values["locale"], time_zone=values["time_zone"],
                expires_at=parse_date(values["expires_at"]), kind=values["kind"])
        except DomainError as exc:
            error = exc
        else:
            return render_template("people/created.html", user=user, password=password)
    return render_template("people/new.html", values=values, error=error, error_text=say(error) if error else "",
                           roles=_role_choices(), teams=[t for t, _m in teams.list_teams()]), (422 if error else 200)


def _locked_from(username: str) -> int | None:
    """From how many addresses sign-in to the account is locked (None when that cannot be told)."""
    try:
        return throttle.locked_sources(limiter(), username)
    except throttle.Unavailable:
        return None


def _show(username: str, error=None, values=None, status: int = 200):
    p = people.person(username)
    values = values or {"display_name": p.user.display_name, "locale": p.user.locale, "time_zone": p.user.time_zone,
                        "expires_at": date_value(p.user.expires_at), "roles": p.roles, "teams": p.teams}
    return render_template("people/show.html", p=p, values=values, error=error, error_text=say(error) if error else "",
                           roles=_role_choices(), teams=[t for t, _m in teams.list_teams()],
                           owned=handover.owned_counts(username), tokens=tokens_of(p.user),
                           locked_from=_locked_from(p.user.username)), status


@bp.route("/people/<username>", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def person(username):
    if request.method == "GET":
        return _show(username)
    values = _person_form(request.form)
    try:
        people.update_person(actor(), username, display_name=values["display_name"], locale=values["locale"],
                             time_zone=values["time_zone"], expires_at=parse_date(values["expires_at"]),
                             roles=values["roles"], teams=values["teams"])
    except DomainError as exc:
        return _show(username, exc, values, 422)
    flash(_("Saved. The change applies from their next click."), "success")
    return redirect(url_for("people.person", username=username))


@bp.route("/people/<username>/deactivate", methods=["POST"])
@requires(Perm.USERS_MANAGE)
def deactivate(username):
    try:
        ended = people.deactivate(actor(), username, request.form.get("reason", ""))
    except DomainError as exc:
        return _show(username, exc, status=exc.status)
    flash(_("%(user)s is deactivated: %(n)s open sessions ended, every API token revoked.", user=username, n=ended),
          "success")
    return redirect(url_for("people.handover_page", username=username))


@bp.route("/people/<username>/reactivate", methods=["POST"])
@requires(Perm.USERS_MANAGE)
def reactivate(username):
    try:
        people.reactivate(actor(), username, request.form.get("reason", ""))
    except DomainError as exc:
        return _show(username, exc, status=exc.status)
    flash(_("%(user)s can sign in again. Their old API tokens stay revoked.", user=username), "success")
    return redirect(url_for("people.person", username=username))


@bp.route("/people/<username>/password", methods=["POST"])
@requires(Perm.USERS_MANAGE)
def reset_password(username):
    try:
        password = people.reset_password(actor(), username)
    except DomainError as exc:
        return _show(username, exc, status=exc.status)
    return render_template("people/created.html", user=people.get_user(username), password=password, reset=True)


@bp.route("/people/<username>/unlock", methods=["POST"])
@requires(Perm.USERS_MANAGE)
def unlock(username):
    try:
        lifted = people.unlock_sign_in(actor(), username, limiter())
    except throttle.Unavailable:
        flash(_("Sign-in locks cannot be read right now (Redis is not reachable). Try again in a minute."), "error")
        return redirect(url_for("people.person", username=username))
    except DomainError as exc:
        return _show(username, exc, status=exc.status)
    flash(_("%(user)s can sign in again from every address (%(n)s locks lifted).", user=username, n=lifted), "success")
    return redirect(url_for("people.person", username=username))


@bp.route("/people/<username>/handover", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def handover_page(username):
    p = people.person(username)
    preview = handover.preview(actor(), username)
    error = None
    to = request.form.get("to", "") or preview["manager"] or ""
    if request.method == "POST":
        try:
            counts = handover.hand_over(actor(), username, to, request.form.get("reason", ""))
        except DomainError as exc:
            error = exc
        else:
            flash(_("%(n)s records handed over to %(to)s.", n=sum(counts.values()), to=to), "success")
            return redirect(url_for("people.person", username=username))
    return render_template("people/handover.html", p=p, preview=preview, to=to, error=error,
                           error_text=say(error) if error else "",
                           candidates=handover.candidates(username)), (422 if error else 200)


@bp.route("/people/dormant", methods=["POST"])
@requires(Perm.USERS_MANAGE)
def deactivate_dormant():
    names = request.form.getlist("users")
    if not names:
        flash(_("Tick the accounts to deactivate."), "error")
        return redirect(url_for("people.list_people", status="dormant"))
    try:
        n = people.deactivate_many(actor(), names, request.form.get("reason", ""))
    except DomainError as exc:
        flash(say(exc), "error")
        return redirect(url_for("people.list_people", status="dormant"))
    flash(_("%(n)s accounts deactivated.", n=n), "success")
    owning = [u for u in names if handover.owned_counts(u)]
    if owning:
        flash(_("Records still belong to %(names)s: open each account and hand them over.", names=_(", ").join(owning)),
              "error")
        return redirect(url_for("people.handover_page", username=owning[0]))
    return redirect(url_for("people.list_people", status="dormant"))


# --- roles --------------------------------------------------------------------------------------

@bp.route("/roles", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def list_roles():
    error, values = None, {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in ("name", "title_zh", "title_en")}
        try:
            role = roles.create_role(actor(), values["name"], title_zh=values["title_zh"], title_en=values["title_en"],
                                     permissions=request.form.getlist("permissions") or None)
        except DomainError as exc:
            error = exc
        else:
            flash(_("Role created. Give it rights in each form's access policy."), "success")
            return redirect(url_for("people.role", name=role.name))
    return render_template("people/roles.html", roles=roles.list_roles(), counts=roles.holder_counts(),
                           values=values, error=error, error_text=say(error) if error else "",
                           perms=[p.value for p in Perm]), (422 if error else 200)


@bp.route("/roles/<name>", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def role(name):
    r = roles.get_role(name)
    error = None
    if request.method == "POST":
        op = request.form.get("op", "save")
        try:
            if op == "retire":
                roles.retire_role(actor(), name)
                flash(_("Role retired: it grants nothing and cannot be given."), "success")
            elif op == "reinstate":
                roles.reinstate_role(actor(), name)
                flash(_("Role reinstated."), "success")
            elif op == "delete":
                roles.delete_role(actor(), name)
                flash(_("Role deleted."), "success")
                return redirect(url_for("people.list_roles"))
            elif op != "save":
                raise Invalid("unknown action", field="op", code="invalid_op")
            else:
                roles.update_role(actor(), name, title_zh=request.form.get("title_zh", ""),
                                  title_en=request.form.get("title_en", ""),
                                  permissions=request.form.getlist("permissions"))
                flash(_("Saved. The change applies from each holder's next click."), "success")
        except DomainError as exc:
            error = exc
        else:
            return redirect(url_for("people.role", name=name))
    return render_template("people/role.html", r=r, holders=roles.holders(r), forms=roles.policies_naming(name),
                           perms=[p.value for p in Perm], error=error, error_text=say(error) if error else "",
                           title=role_title(r, current_locale())), (422 if error else 200)


# --- teams --------------------------------------------------------------------------------------

@bp.route("/teams", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def list_teams():
    error, values = None, {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in ("name", "manager")}
        try:
            team = teams.create_team(actor(), values["name"], values["manager"])
        except DomainError as exc:
            error = exc
        else:
            flash(_("Team created."), "success")
            return redirect(url_for("people.team", team_id=team.id))
    return render_template("people/teams.html", teams=teams.list_teams(), values=values, error=error,
                           error_text=say(error) if error else "", managers=_usernames()), (422 if error else 200)


def _usernames() -> dict:
    return {u.username: u.display_name or u.username for u in people.active_people()}


@bp.route("/teams/<team_id>", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def team(team_id):
    t = teams.get_team(team_id)
    error = None
    if request.method == "POST":
        op = request.form.get("op", "save")
        try:
            if op == "add":
                teams.set_members(actor(), t.id, add=[request.form.get("member", "")])
            elif op == "remove":
                teams.set_members(actor(), t.id, remove=[request.form.get("member", "")])
            elif op == "delete":
                teams.delete_team(actor(), t.id)
                flash(_("Team deleted."), "success")
                return redirect(url_for("people.list_teams"))
            elif op != "save":
                raise Invalid("unknown action", field="op", code="invalid_op")
            else:
                teams.update_team(actor(), t.id, name=request.form.get("name", ""),
                                  manager=request.form.get("manager", ""))
            flash(_("Saved. Team scope follows from the next click."), "success")
        except DomainError as exc:
            error = exc
        else:
            return redirect(url_for("people.team", team_id=t.id))
    t = teams.get_team(t.id)
    return render_template("people/team.html", t=t, members=teams.members(t.id), managers=_usernames(),
                           error=error, error_text=say(error) if error else ""), (422 if error else 200)

