"""Form definitions: loading, checking, versions and validation (pure, no Flask)."""
from formwarden.forms.definition import FieldDef, FormDef, Problem, check_definition, parse_definition
from formwarden.forms.registry import FieldType, field_types

__all__ = ["FieldDef", "FieldType", "FormDef", "Problem", "check_definition", "field_types", "parse_definition"]
