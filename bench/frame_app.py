"""The `frame` baseline: a minimal Flask app that parses JSON, validates it with jsonschema and
inserts the record plus one event row (one transaction). Everything Formwarden adds on top of
this is ours to justify. Served by gunicorn with the same settings as `formwarden serve`."""
import datetime as dt
import json
import os

import peewee as pw
from flask import Flask, jsonify, request
from jsonschema import Draft202012Validator

db = pw.SqliteDatabase(os.environ["FRAME_DB"], pragmas={"journal_mode": "wal", "synchronous": "normal",
                                                       "busy_timeout": 10000})


class Rec(pw.Model):
    data = pw.TextField()
    version = pw.IntegerField(default=1)
    updated_at = pw.DateTimeField()

    class Meta:
        database = db


class Event(pw.Model):
    seq = pw.IntegerField(unique=True)
    record_id = pw.IntegerField()
    diff = pw.TextField()

    class Meta:
        database = db


def create_app():
    schema = json.loads(open(os.environ["FRAME_SCHEMA"], encoding="utf-8").read())
    schema = {k: v for k, v in schema.items() if not k.startswith("x-")}
    validator = Draft202012Validator(schema)
    app = Flask("frame")
    db.connect(reuse_if_open=True)
    db.create_tables([Rec, Event])

    @app.post("/records")
    def create():
        body = request.get_json()
        data = body["data"]
        errors = [e.message for e in validator.iter_errors(data)]
        if errors:
            return jsonify({"errors": errors}), 422
        db.connect(reuse_if_open=True)
        with db.atomic("IMMEDIATE"):
            rec = Rec.create(data=json.dumps(data, ensure_ascii=False), updated_at=dt.datetime.utcnow())
            seq = (Event.select(pw.fn.MAX(Event.seq)).scalar() or 0) + 1
            Event.create(seq=seq, record_id=rec.id, diff=json.dumps(data, ensure_ascii=False))
        return jsonify({"id": rec.id, "version": 1, "data": data}), 201

    @app.patch("/records/<int:rid>")
    def update(rid):
        body = request.get_json()
        db.connect(reuse_if_open=True)
        with db.atomic("IMMEDIATE"):
            rec = Rec.get_by_id(rid)
            data = {**json.loads(rec.data), **body["data"]}
            errors = [e.message for e in validator.iter_errors(data)]
            if errors:
                return jsonify({"errors": errors}), 422
            Rec.update(data=json.dumps(data, ensure_ascii=False), version=Rec.version + 1,
                       updated_at=dt.datetime.utcnow()).where(Rec.id == rid).execute()
            seq = (Event.select(pw.fn.MAX(Event.seq)).scalar() or 0) + 1
            Event.create(seq=seq, record_id=rid, diff=json.dumps(body["data"], ensure_ascii=False))
        return jsonify({"id": rid, "version": rec.version + 1, "data": data})

    return app
