"""Swagger UI served under the portal's Content Security Policy.

drf-spectacular's split view already moves the init script into its own request
(`?script`); its page template still carries an inline <style> block, which `style-src 'self'`
refuses. The page below is the same without it: every script and stylesheet is a same-origin
file from drf-spectacular-sidecar.
"""

from __future__ import annotations

from django.template import engines
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.renderers import TemplateHTMLRenderer

_PAGE_TEMPLATE = "telemed/api/swagger_ui.html"
_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <title>{{ title|default:"Telemed API" }}</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    {% if favicon_href %}<link rel="icon" href="{{ favicon_href }}">{% endif %}
    <link rel="stylesheet" href="{{ swagger_ui_css }}">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{{ swagger_ui_bundle }}"></script>
    <script src="{{ swagger_ui_standalone }}"></script>
    <script src="{{ script_url }}"></script>
  </body>
</html>
"""


class _SwaggerRenderer(TemplateHTMLRenderer):
    def resolve_template(self, template_names):
        if template_names == [_PAGE_TEMPLATE]:
            return engines["django"].from_string(_PAGE)
        return super().resolve_template(template_names)


class ApiDocsView(SpectacularSwaggerSplitView):
    renderer_classes = [_SwaggerRenderer]
    template_name = _PAGE_TEMPLATE
