// Starts GraphiQL against this gateway's /graphql. A file, not an inline script, so the
// page runs under a Content-Security-Policy without 'unsafe-inline' for scripts.
(function () {
  "use strict";

  var EXAMPLE = [
    "# CISTECH Privacy Gateway. Each response says in",
    "# extensions.privacy what was hidden from you, and why.",
    "#",
    "# To sign in, put this in Headers (below), with your",
    "# token; employees name a purpose too:",
    '# {"Authorization": "Bearer <token>",',
    '#  "X-Processing-Purpose": "LEGAL"}',
    "#",
    "# Run: Ctrl-Enter or the play button.",
    "",
    "{",
    "  privacyCatalog {",
    "    typeName",
    "    fieldName",
    "    category",
    "    strategy",
    "  }",
    "}",
    "",
  ].join("\n");

  var root = document.getElementById("graphiql");
  var endpoint = new URL(root.getAttribute("data-endpoint") || "/graphql", window.location.href);
  var fetcher = window.GraphiQL.createFetcher({
    url: endpoint.href,
    enableIncrementalDelivery: false,
  });

  window.ReactDOM.createRoot(root).render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: EXAMPLE,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      // Tokens are not written to localStorage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    })
  );
})();
