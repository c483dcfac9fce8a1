"""Pages the gateway serves to browsers: the DPO console and GraphiQL.

Both ship their assets in this package (`static/`, GraphiQL's under `static/vendor/`) and
are served under a Content-Security-Policy that allows nothing from outside the gateway's
own origin and no inline script or style, so no page of the gateway loads anything from
elsewhere.
"""

from gateway.console.pages import (
    PAGE_CSP,
    STATIC_PREFIX,
    console_response,
    graphiql_html,
    graphiql_response,
    static_app,
)

__all__ = [
    "PAGE_CSP",
    "STATIC_PREFIX",
    "console_response",
    "graphiql_html",
    "graphiql_response",
    "static_app",
]
