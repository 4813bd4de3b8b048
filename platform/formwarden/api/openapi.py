"""The OpenAPI 3.1 description of /api/v1 (served at /api/v1/openapi.json)."""
from __future__ import annotations

from formwarden import __version__


def _err(desc: str) -> dict:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {
    "400": _err("Malformed request (bad JSON, bad parameter)"),
    "401": _err("Not signed in or invalid token"),
    "403": _err("Not allowed (action or field named in `field`)"),
    "404": _err("Unknown form or record (or outside your scope)"),
    "413": _err("Body too large"),
    "422": _err("Validation failed; `errors` lists each field"),
}
FORM = {"name": "form", "in": "path", "required": True, "schema": {"type": "string"}}
RID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
REC = {"description": "The record as you may see it", "headers": {"ETag": {"schema": {"type": "string"}}},
       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Record"}}}}
BODY = {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Write"}}}}


JOB = {"description": "A background job", "content": {"application/json": {"schema": {
    "type": "object", "required": ["id", "kind", "status"], "properties": {
        "id": {"type": "string"}, "kind": {"type": "string"},
        "status": {"type": "string", "description": "queued, running, done or failed"},
        "progress": {"type": "integer"}, "total": {"type": "integer"}, "created": {"type": "integer"},
        "errors": {"type": "array", "items": {"type": "object"}}}}}}}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Formwarden API", "version": __version__,
                 "description": "Records of customer forms. Every answer is filtered by your role's field access: "
                                "hidden fields are absent, masked fields are masked."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/forms": {"get": {"summary": "Forms you may use, with your field levels",
                               "responses": {"200": {"description": "Forms"}, **ERRORS}}},
            "/forms/{form}/files": {
                "parameters": [FORM],
                "post": {"summary": "Upload a file for an attachment field (multipart: field, file); 5 MB at most",
                         "requestBody": {"content": {"multipart/form-data": {"schema": {
                             "type": "object", "required": ["field", "file"],
                             "properties": {"field": {"type": "string"}, "file": {"type": "string", "format": "binary"}}}}}},
                         "responses": {"201": {"description": "The file's token: put it in the field within the hour"},
                                       **ERRORS}}},
            "/files/{token}": {
                "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"summary": "Download an attached file (read access to its field on its record; audited)",
                        "responses": {"200": {"description": "The file"}, **ERRORS}}},
            "/forms/{form}/records": {
                "parameters": [FORM],
                "get": {
                    "summary": "List records in your scope",
                    "parameters": [
                        {"name": "filter[FIELD]", "in": "query", "schema": {"type": "string"},
                         "description": "Exact match on a field you may read; repeat for any-of"},
                        {"name": "sort", "in": "query", "schema": {"type": "string"},
                         "description": "FIELD or -FIELD (descending); also updated_at, created_at, id"},
                        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100},
                         "description": "Contains-match on the form's title field (needs read access to it)"},
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                        {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                        {"name": "deleted", "in": "query", "schema": {"type": "boolean"},
                         "description": "List the recycle bin instead"},
                    ],
                    "responses": {"200": {"description": "A page", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Page"}}}}, **ERRORS},
                },
                "post": {"summary": "Create a record", "requestBody": BODY,
                         "responses": {"201": REC, **ERRORS}},
            },
            "/forms/{form}/records/{id}": {
                "parameters": [FORM, RID],
                "get": {"summary": "Read a record", "responses": {"200": REC, **ERRORS}},
                "patch": {
                    "summary": "Change some fields (null clears a field)",
                    "parameters": [{"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
                                    "description": "The version you read (the ETag)"}],
                    "requestBody": BODY,
                    "responses": {"200": REC, "409": _err("The record changed since you read it"),
                                  "428": _err("If-Match missing"), **ERRORS},
                },
                "delete": {"summary": "Move to the recycle bin",
                           "responses": {"204": {"description": "Deleted"}, **ERRORS}},
            },
            "/forms/{form}/records/{id}/restore": {
                "parameters": [FORM, RID],
                "post": {"summary": "Restore from the recycle bin", "responses": {"200": REC, **ERRORS}},
            },
            "/forms/{form}/records/{id}/reveal": {
                "parameters": [FORM, RID],
                "post": {"summary": "Read a record with some restricted fields in clear (recorded as a reveal)",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["fields"], "additionalProperties": False,
                             "properties": {"fields": {"type": "array", "minItems": 1,
                                                       "items": {"type": "string"}}}}}}},
                         "responses": {"200": REC, **ERRORS}},
            },
            "/forms/{form}/records/{id}/history": {
                "parameters": [FORM, RID],
                "get": {"summary": "The record's changes as you may see them (restricted values masked)",
                        "responses": {"200": {"description": "Entries"}, **ERRORS}},
            },
            "/forms/{form}/records/{id}/history/reveal": {
                "parameters": [FORM, RID],
                "post": {"summary": "The history with restricted values in clear (recorded as a reveal)",
                         "responses": {"200": {"description": "Entries"}, **ERRORS}},
            },
            "/forms/{form}/records/{id}/purge": {
                "parameters": [FORM, RID],
                "delete": {"summary": "Delete for good (administrators)",
                           "responses": {"204": {"description": "Purged"}, **ERRORS}},
            },
            "/forms/{form}/records/bulk": {
                "parameters": [FORM],
                "post": {
                    "summary": "Change or delete many records at once: all or none, one event per record",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["action", "ids"], "additionalProperties": False,
                        "properties": {"action": {"enum": ["update", "delete"]},
                                       "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 500},
                                       "data": {"type": "object"}, "reason": {"type": "string", "maxLength": 1000}}}}}},
                    "responses": {"200": {"description": "How many records changed", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {"action": {"type": "string"},
                                                                    "count": {"type": "integer"}}}}}}, **ERRORS},
                },
            },
            "/forms/{form}/imports": {
                "parameters": [FORM],
                "post": {
                    "summary": "Import a CSV file (header: field names or labels) in a background job; "
                               "every row is checked first and nothing is imported when any row has a problem",
                    "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"},
                                    "description": "The file's name, for the audit trail"}],
                    "requestBody": {"required": True, "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "multipart/form-data": {"schema": {"type": "object", "properties": {
                            "file": {"type": "string", "format": "binary"}}}}}},
                    "responses": {"202": JOB, **ERRORS},
                },
            },
            "/jobs/{job}": {
                "parameters": [{"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"summary": "A background job you started: status, progress, problems",
                        "responses": {"200": JOB, **ERRORS}},
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "formwarden token create"},
                "session": {"type": "apiKey", "in": "cookie", "name": "fw_session",
                            "description": "Browser session; unsafe methods also need X-CSRFToken"},
            },
            "schemas": {
                "Record": {"type": "object", "required": ["id", "version", "form_version", "data"], "properties": {
                    "id": {"type": "integer"}, "version": {"type": "integer"}, "form_version": {"type": "integer"},
                    "data": {"type": "object"}, "deleted_at": {"type": "string", "format": "date-time"}}},
                "Page": {"type": "object", "required": ["items", "total"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                    "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"}}},
                "Write": {"type": "object", "required": ["data"], "additionalProperties": False, "properties": {
                    "data": {"type": "object"}, "reason": {"type": "string", "maxLength": 1000}}},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object"}}}}}},
            },
        },
    }
