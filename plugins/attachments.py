"""The attachment field type: a file (PDF, image, Word, Excel, text; 5 MB at most) kept encrypted
in the database and served only through the access gate (records/attachments.py). A record
stores the file's token; pages show its name with a download link."""
from __future__ import annotations

import re

from formwarden.forms import FieldType
from formwarden.plugins import hookimpl

_TOKEN = re.compile(r"[0-9a-f]{32}")

WIDGET = """{% macro widget(fd, value, locale, attrs) -%}
<span class="file-input">
  <input type="hidden" name="{{ fd.name }}" value="{{ value or '' }}">
  {% if value %}<span class="file-current">{{ attachment_name(value) }}</span>
    <label class="check"><input type="checkbox" name="{{ fd.name }}__clear" value="1"> {{ '移除文件' if locale == 'zh-CN' else 'Remove the file' }}</label>{% endif %}
  <input id="in-{{ fd.name }}" name="{{ fd.name }}__file" type="file"
    accept=".pdf,.png,.jpg,.jpeg,.gif,.webp,.docx,.xlsx,.txt,.csv" aria-describedby="err-{{ fd.name }} help-{{ fd.name }}">
  <small class="help">{{ 'PDF、图片、Word、Excel 或文本文件，不超过 5 MB' if locale == 'zh-CN' else 'PDF, image, Word, Excel or text file, 5 MB at most' }}</small>
</span>
{%- endmacro %}"""


@hookimpl
def formwarden_field_types():
    return [FieldType("attachment", lambda v: isinstance(v, str) and bool(_TOKEN.fullmatch(v)), widget="file",
                      mask="all", widget_macro=WIDGET, schema={"type": "string", "maxLength": 32},
                      label={"zh-CN": "附件", "en": "Attachment"},
                      message={"zh-CN": "请重新上传文件", "en": "Upload the file again"})]
