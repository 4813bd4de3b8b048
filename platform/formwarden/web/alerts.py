"""The alert dashboard: open / acknowledged / resolved; administrators handle alerts."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from formwarden.access.permissions import Perm, has_perm
from formwarden.audit.alerts import IP_RULES, STATUSES, change_status, list_alerts
from formwarden.http.context import actor
from formwarden.http.guard import requires
from formwarden.web.audit_words import SEVERITIES, alert_words

bp = Blueprint("alerts", __name__)
@bp.route("/alerts")
@requires(Perm.ALERTS_VIEW)
def dashboard():
    status = request.args.get("status", "open")
    if status not in STATUSES:
        status = "open"
    alerts, counts = list_alerts(actor(), status)
    return render_template("alerts/dashboard.html", alerts=alerts, status=status, counts=counts,
                           statuses=STATUSES, can_manage=has_perm(actor(), Perm.ALERTS_MANAGE), ip_rules=IP_RULES,
                           alert_words=alert_words, severities={k: _(v) for k, v in SEVERITIES.items()})


@bp.route("/alerts/<int:alert_id>/<any(acknowledge, resolve):action>", methods=["POST"])
@requires(Perm.ALERTS_MANAGE)
def handle(alert_id, action):
    change_status(actor(), alert_id, action, note=request.form.get("note", ""))
    flash(_("Alert updated."), "success")
    return redirect(url_for("alerts.dashboard", status=request.form.get("back", "open")))
