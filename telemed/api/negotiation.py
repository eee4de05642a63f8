"""Content negotiation for the API's file downloads."""

from rest_framework.negotiation import BaseContentNegotiation


class JsonErrorsWhateverAccepted(BaseContentNegotiation):
    """A download answers with the file's own type; an error is JSON whatever the client asked
    for (a client asking for `application/pdf` must get the 404, not a 406)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
