// The DPO console. It talks to the gateway's GraphQL endpoint only, with the token the DPO
// pasted (kept in sessionStorage) and the purpose LEGAL; the page itself holds no data.
// Every value is put into the page as text (never as HTML), and nothing runs inline, so
// the page works under a Content-Security-Policy of 'self' only.
(function () {
  "use strict";

  const TOKEN_KEY = "privacy-gateway.console.token";
  const ENDPOINT = document.body.dataset.endpoint || "/graphql";
  const PURPOSE = document.body.dataset.purpose || "LEGAL";
  const OPEN = ["RECEIVED", "IN_PROGRESS"];
  const STATUSES = ["RECEIVED", "IN_PROGRESS", "COMPLETED", "REJECTED", "CANCELLED"];
  const KINDS = ["ACCESS", "EXPORT", "CORRECTION", "DELETION", "CONSENT_WITHDRAWAL", "INQUIRY"];
  const PAGE_SIZE = 50; // the API's default page; GATEWAY_MAX_PAGE_SIZE is at least 1
  const CHART_PAGES = 40; // at most 2,000 requests drawn
  const DAY = 86400000;
  const WEEK = 7 * DAY;
  const SVG = "http://www.w3.org/2000/svg";

  const view = document.getElementById("view");
  const flash = document.getElementById("flash");

  // -- the DOM, as text only -------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttributes(node, attrs);
    append(node, children);
    return node;
  }

  function s(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    setAttributes(node, attrs);
    append(node, children);
    return node;
  }

  function setAttributes(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function show(...children) {
    view.replaceChildren(...children.flat(Infinity).filter(Boolean));
  }

  function say(text, kind) {
    flash.textContent = text;
    flash.className = kind || "ok";
    flash.hidden = !text;
  }

  // -- GraphQL ---------------------------------------------------------------------------

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  class Problem extends Error {
    constructor(errors) {
      super(errors.map((e) => e.message).join("; "));
      this.errors = errors;
    }
  }

  async function gql(query, variables) {
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        credentials: "omit",
        cache: "no-store",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          Authorization: "Bearer " + token(),
          "X-Processing-Purpose": PURPOSE,
        },
        body: JSON.stringify({ query: query, variables: variables || {} }),
      });
    } catch (error) {
      throw new Problem([{ message: "the gateway did not answer (" + error.message + ")" }]);
    }
    let body;
    try {
      body = await response.json();
    } catch (error) {
      throw new Problem([{ message: "HTTP " + response.status + " without a GraphQL answer" }]);
    }
    if (body.errors && body.errors.length) throw new Problem(body.errors);
    return body.data;
  }

  function problem(error) {
    const errors = error instanceof Problem ? error.errors : [{ message: String(error) }];
    return h(
      "div",
      { class: "problem", "data-testid": "problem" },
      h("strong", {}, "The gateway refused: "),
      h(
        "ul",
        {},
        errors.map((e) =>
          h(
            "li",
            {},
            e.extensions && e.extensions.code ? h("code", {}, e.extensions.code) : null,
            " ",
            e.message
          )
        )
      )
    );
  }

  function refusals(errors) {
    return h(
      "ul",
      { class: "problem", "data-testid": "refusals" },
      errors.map((e) =>
        h("li", {}, h("code", {}, e.code), " ", e.message, e.field ? " (" + e.field + ")" : "")
      )
    );
  }

  // -- formatting ------------------------------------------------------------------------

  function date(value) {
    if (!value) return "—";
    const moment = new Date(value);
    return moment.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function relative(value) {
    const days = Math.round((new Date(value) - Date.now()) / DAY);
    if (days === 0) return "today";
    return days > 0 ? "in " + days + " d" : -days + " d ago";
  }

  function flags(request) {
    return h(
      "span",
      { class: "flags" },
      request.overdue ? h("span", { class: "badge overdue" }, "OVERDUE") : null,
      request.dueSoon ? h("span", { class: "badge soon" }, "DUE SOON") : null,
      request.failure ? h("span", { class: "badge failed", title: request.failure }, "FAILED") : null,
      request.extended ? h("span", { class: "badge" }, "EXTENDED") : null
    );
  }

  function status(value) {
    return h("span", { class: "status " + value.toLowerCase() }, value.replace("_", " "));
  }

  function select(name, options, chosen, label) {
    return h(
      "label",
      {},
      label,
      " ",
      h(
        "select",
        { name: name },
        options.map(([value, text]) => h("option", { value: value, selected: value === chosen }, text))
      )
    );
  }

  function table(head, rows, attrs) {
    return h(
      "table",
      attrs || {},
      h("thead", {}, h("tr", {}, head.map((cell) => h("th", { scope: "col" }, cell)))),
      h("tbody", {}, rows)
    );
  }

  // -- the queue -------------------------------------------------------------------------

  const QUEUE = `query Queue($status: PrivacyRequestStatus, $kind: PrivacyRequestKind,
      $overdue: Boolean, $dueBefore: DateTime, $first: Int!, $after: String) {
    privacyRequests(status: $status, kind: $kind, overdue: $overdue, dueBefore: $dueBefore,
        first: $first, after: $after) {
      nodes { id subjectId kind status target receivedAt dueAt dueRule jurisdiction
              extended overdue dueSoon failure }
      pageInfo { hasNextPage endCursor }
    }
  }`;

  const queueFilter = { status: "OPEN", kind: "", overdue: "", dueBefore: "" };

  // One stream per status asked for ("open" is two); shown merged by due date, and only up
  // to the point every stream with more to come has reached, so the order stays right.
  function queueStreams() {
    const statuses = queueFilter.status === "OPEN" ? OPEN : [queueFilter.status || null];
    return statuses.map((value) => ({ status: value, nodes: [], after: null, more: true }));
  }

  async function fill(streams) {
    await Promise.all(
      streams
        .filter((stream) => stream.more)
        .map(async (stream) => {
          const data = await gql(QUEUE, {
            status: stream.status,
            kind: queueFilter.kind || null,
            overdue: queueFilter.overdue === "" ? null : queueFilter.overdue === "yes",
            dueBefore: queueFilter.dueBefore ? queueFilter.dueBefore + "T00:00:00Z" : null,
            first: PAGE_SIZE,
            after: stream.after,
          });
          const page = data.privacyRequests;
          stream.nodes.push(...page.nodes);
          stream.after = page.pageInfo.endCursor;
          stream.more = page.pageInfo.hasNextPage;
        })
    );
  }

  function byDue(a, b) {
    return new Date(a.dueAt) - new Date(b.dueAt) || Number(a.id) - Number(b.id);
  }

  function merged(streams) {
    const all = streams.flatMap((stream) => stream.nodes).sort(byDue);
    const limits = streams
      .filter((stream) => stream.more && stream.nodes.length)
      .map((stream) => stream.nodes[stream.nodes.length - 1]);
    if (!limits.length) return all;
    const limit = limits.sort(byDue)[0];
    return all.filter((node) => byDue(node, limit) <= 0);
  }

  function queueForm(reload) {
    const form = h(
      "form",
      { class: "filters", "data-testid": "queue-filters" },
      select(
        "status",
        [["OPEN", "open (received, in progress)"], ["", "any"], ...STATUSES.map((v) => [v, v])],
        queueFilter.status,
        "Status"
      ),
      select("kind", [["", "any"], ...KINDS.map((v) => [v, v])], queueFilter.kind, "Kind"),
      select(
        "overdue",
        [["", "either"], ["yes", "overdue only"], ["no", "not overdue"]],
        queueFilter.overdue,
        "Overdue"
      ),
      h(
        "label",
        {},
        "Due before ",
        h("input", { type: "date", name: "dueBefore", value: queueFilter.dueBefore })
      )
    );
    form.addEventListener("change", () => {
      for (const key of Object.keys(queueFilter)) queueFilter[key] = form.elements[key].value;
      reload();
    });
    form.addEventListener("submit", (event) => event.preventDefault());
    return form;
  }

  function queueRow(request) {
    const classes = [request.overdue ? "overdue" : "", request.dueSoon ? "soon" : ""];
    return h(
      "tr",
      { class: classes.join(" ").trim() || null, "data-request": request.id, "data-due": request.dueAt },
      h("td", {}, h("a", { href: "#request/" + request.id }, "#" + request.id)),
      h(
        "td",
        { class: "due" },
        date(request.dueAt),
        h("br"),
        h("small", {}, OPEN.includes(request.status) ? relative(request.dueAt) : "")
      ),
      h("td", {}, flags(request)),
      h("td", {}, request.kind, request.target ? h("small", {}, " · " + request.target) : ""),
      h("td", {}, status(request.status)),
      h("td", {}, h("a", { href: "#subject/" + request.subjectId }, "user " + request.subjectId)),
      h("td", {}, date(request.receivedAt)),
      h("td", {}, h("small", {}, [request.jurisdiction, request.dueRule].filter(Boolean).join(" · ")))
    );
  }

  async function queuePage() {
    const body = h("tbody");
    const count = h("p", { class: "count" });
    const more = h("button", { type: "button", hidden: true }, "Load more");
    const holder = h("div");
    let streams = queueStreams();

    function render() {
      const rows = merged(streams);
      body.replaceChildren(...rows.map(queueRow));
      const overdue = rows.filter((r) => r.overdue).length;
      count.textContent =
        rows.length + " request" + (rows.length === 1 ? "" : "s") + " by due date, earliest first" +
        (overdue ? "; " + overdue + " overdue" : "");
      more.hidden = !streams.some((stream) => stream.more);
    }

    async function load() {
      holder.replaceChildren();
      try {
        await fill(streams);
      } catch (error) {
        holder.replaceChildren(problem(error));
        for (const stream of streams) stream.more = false;
      }
      render();
    }

    more.addEventListener("click", load);
    show(
      h("h2", {}, "Request queue"),
      queueForm(() => {
        streams = queueStreams();
        load();
      }),
      count,
      holder,
      h(
        "table",
        { class: "queue", "data-testid": "queue" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Request", "Due", "", "Kind", "Status", "Subject", "Received", "Rule"].map((c) =>
              h("th", { scope: "col" }, c)
            )
          )
        ),
        body
      ),
      more
    );
    await load();
  }

  // -- one request -----------------------------------------------------------------------

  const REQUEST = `query Request($id: ID!) {
    privacyRequest(id: $id) {
      id subjectId kind status target details receivedAt dueAt dueRule jurisdiction
      extended completedAt outcome overdue dueSoon attempts failure
      history { occurredAt actor event fromStatus toStatus note }
      erasureSummary { rows { table action count } held { recordType heldFrom heldTo } }
    }
  }`;

  const PAYLOAD = "request { id status } created errors { code message field }";
  const ACTIONS = {
    start: `mutation Start($id: ID!) { startPrivacyRequest(id: $id) { ${PAYLOAD} } }`,
    resolve: `mutation Resolve($id: ID!, $status: PrivacyRequestStatus!, $answer: String!) {
      resolvePrivacyRequest(id: $id, status: $status, answer: $answer) { ${PAYLOAD} } }`,
    extend: `mutation Extend($id: ID!, $reason: String!) {
      extendPrivacyRequest(id: $id, reason: $reason) { ${PAYLOAD} } }`,
  };

  async function act(name, variables, done) {
    try {
      const data = await gql(ACTIONS[name], variables);
      const payload = Object.values(data)[0];
      if (payload.errors.length) return refusals(payload.errors);
      done(payload.request);
      return null;
    } catch (error) {
      return problem(error);
    }
  }

  function facts(pairs) {
    return h(
      "dl",
      { class: "facts" },
      pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
        .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])
    );
  }

  function actionForms(request) {
    if (!OPEN.includes(request.status)) return null;
    const where = h("div", { class: "outcome" });
    const reopen = (moved, text) => {
      say(text);
      requestPage(moved.id);
    };
    const forms = [];
    if (request.status === "RECEIVED") {
      forms.push(
        h(
          "form",
          {
            class: "action",
            "data-testid": "start-form",
            onsubmit: async (event) => {
              event.preventDefault();
              const shown = await act("start", { id: request.id }, (moved) =>
                reopen(moved, "Request #" + moved.id + " is in progress.")
              );
              where.replaceChildren(shown || "");
            },
          },
          h("h3", {}, "Take it in hand"),
          h("button", { type: "submit" }, "Start (in progress)")
        )
      );
    }
    forms.push(
      h(
        "form",
        {
          class: "action",
          "data-testid": "resolve-form",
          onsubmit: async (event) => {
            event.preventDefault();
            const form = event.currentTarget;
            const variables = {
              id: request.id,
              status: form.elements.status.value,
              answer: form.elements.answer.value,
            };
            const shown = await act("resolve", variables, (moved) =>
              reopen(moved, "Request #" + moved.id + " resolved: " + moved.status + ".")
            );
            where.replaceChildren(shown || "");
          },
        },
        h("h3", {}, "Resolve"),
        select("status", [["COMPLETED", "COMPLETED"], ["REJECTED", "REJECTED"]], "COMPLETED", "As"),
        h(
          "label",
          { class: "wide" },
          "Answer the subject reads",
          h("textarea", { name: "answer", rows: 3, required: true, maxlength: 4000 })
        ),
        h("button", { type: "submit" }, "Resolve")
      )
    );
    if (!request.extended) {
      forms.push(
        h(
          "form",
          {
            class: "action",
            "data-testid": "extend-form",
            onsubmit: async (event) => {
              event.preventDefault();
              const reason = event.currentTarget.elements.reason.value;
              const shown = await act("extend", { id: request.id, reason: reason }, (moved) =>
                reopen(moved, "Request #" + moved.id + " extended as the law allows.")
              );
              where.replaceChildren(shown || "");
            },
          },
          h("h3", {}, "Extend the deadline"),
          h(
            "label",
            { class: "wide" },
            "Reason the subject reads",
            h("input", { name: "reason", required: true, maxlength: 500 })
          ),
          h("button", { type: "submit" }, "Extend")
        )
      );
    }
    return h("section", { class: "actions" }, h("div", { class: "forms" }, forms), where);
  }

  function history(events) {
    if (!events.length) return h("p", { class: "muted", "data-testid": "history" }, "No moves recorded.");
    return table(
      ["When", "Who", "What", "From", "To", "Note"],
      events.map((e) =>
        h(
          "tr",
          {},
          h("td", {}, date(e.occurredAt)),
          h("td", {}, e.actor),
          h("td", {}, e.event),
          h("td", {}, e.fromStatus ? status(e.fromStatus) : "—"),
          h("td", {}, status(e.toStatus)),
          h("td", { class: "text" }, e.note || "")
        )
      ),
      { "data-testid": "history" }
    );
  }

  function erasure(summary, request) {
    if (!summary) {
      let why = "Not a deletion: nothing is erased for it.";
      if (request.kind === "DELETION") {
        if (OPEN.includes(request.status)) why = "No erasure has run for this request yet.";
        else if (request.status === "COMPLETED") why = "No erasure summary is on record for it.";
        else why = "Nothing was erased: the request was " + request.status.toLowerCase() + ".";
      }
      return h("p", { class: "muted", "data-testid": "erasure-summary" }, why);
    }
    return h(
      "div",
      { "data-testid": "erasure-summary" },
      table(
        ["Table", "Action", "Rows"],
        summary.rows.map((row) =>
          h("tr", {}, h("td", {}, row.table), h("td", {}, row.action), h("td", { class: "num" }, row.count))
        )
      ),
      summary.held.length
        ? table(
            ["Kept under legal hold", "Hold ends from", "to"],
            summary.held.map((held) =>
              h("tr", {}, h("td", {}, held.recordType), h("td", {}, held.heldFrom), h("td", {}, held.heldTo))
            )
          )
        : h("p", { class: "muted" }, "Nothing kept under legal hold.")
    );
  }

  async function requestPage(id) {
    show(h("p", { class: "muted" }, "Loading request #" + id + "…"));
    let request;
    try {
      request = (await gql(REQUEST, { id: id })).privacyRequest;
    } catch (error) {
      show(h("h2", {}, "Request #" + id), problem(error));
      return;
    }
    if (!request) {
      show(h("h2", {}, "Request #" + id), h("p", {}, "No such request in your queue."));
      return;
    }
    show(
      h("p", {}, h("a", { href: "#queue" }, "← Queue")),
      h(
        "h2",
        { "data-testid": "request-title" },
        "Request #" + request.id + " · " + request.kind + " ",
        status(request.status),
        " ",
        flags(request)
      ),
      facts([
        ["Subject", h("a", { href: "#subject/" + request.subjectId }, "user " + request.subjectId)],
        ["About", request.target],
        ["In the subject's words", request.details ? h("q", { class: "text" }, request.details) : null],
        ["Received", date(request.receivedAt)],
        ["Due", date(request.dueAt) + (OPEN.includes(request.status) ? " (" + relative(request.dueAt) + ")" : "")],
        ["Deadline rule", [request.jurisdiction, request.dueRule].filter(Boolean).join(" · ")],
        ["Completed", request.completedAt ? date(request.completedAt) : null],
        ["Outcome", request.outcome ? h("span", { class: "text", "data-testid": "outcome" }, request.outcome) : null],
        ["Background work", request.attempts ? request.attempts + " tries" : null],
        ["Failure", request.failure],
      ]),
      actionForms(request),
      h("h3", {}, "History"),
      history(request.history),
      h("h3", {}, "Erasure summary"),
      erasure(request.erasureSummary, request)
    );
  }

  // -- the catalog -----------------------------------------------------------------------

  const CATALOG = `{ privacyCatalog { typeName fieldName category subject strategy
      seenBy { label } lawfulBases retention { basis years } } }`;

  async function catalogPage() {
    show(h("h2", {}, "Privacy catalog"), h("p", { class: "muted" }, "Loading…"));
    let entries;
    try {
      entries = (await gql(CATALOG)).privacyCatalog;
    } catch (error) {
      show(h("h2", {}, "Privacy catalog"), problem(error));
      return;
    }
    const body = h("tbody");
    const filter = h("input", { type: "search", placeholder: "Filter: type, field, category…" });
    const render = () => {
      const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      const shown = entries.filter((e) => {
        const text = [e.typeName, e.fieldName, e.category, e.strategy, e.subject || ""].join(" ").toLowerCase();
        return words.every((word) => text.includes(word));
      });
      body.replaceChildren(
        ...shown.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, e.typeName + "." + e.fieldName)),
            h("td", {}, e.category),
            h("td", {}, e.subject || "—"),
            h("td", {}, e.strategy),
            h("td", {}, e.seenBy.map((v) => h("span", { class: "chip" }, v.label))),
            h("td", {}, e.lawfulBases.join(", ")),
            h("td", {}, e.retention ? e.retention.basis + ", " + e.retention.years + " y" : "—")
          )
        )
      );
    };
    filter.addEventListener("input", render);
    show(
      h("h2", {}, "Privacy catalog"),
      h("p", { class: "muted" }, entries.length + " personal fields, and who may see each."),
      filter,
      h(
        "table",
        { class: "catalog", "data-testid": "catalog" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Field", "Category", "Whose", "Mask", "Seen by", "Lawful bases", "Retention"].map((c) =>
              h("th", { scope: "col" }, c)
            )
          )
        ),
        body
      )
    );
    render();
  }

  // -- one subject's redaction status ----------------------------------------------------

  const REDACTION = `query Status($id: ID!) { redactionStatus(subjectId: $id) {
      subjectId deletionState analyticsConsent policyVersion
      fields { typeName fieldName category outcomes { viewer { label } action reason } } } }`;

  async function subjectPage(id) {
    const form = h(
      "form",
      { class: "filters", "data-testid": "subject-form" },
      h("label", {}, "Subject (user id) ", h("input", { name: "id", inputmode: "numeric", value: id || "", required: true })),
      h("button", { type: "submit" }, "Show")
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      window.location.hash = "#subject/" + encodeURIComponent(form.elements.id.value.trim());
    });
    const result = h("div", { "data-testid": "redaction-status" });
    show(h("h2", {}, "Redaction status"), h("p", { class: "muted" }, "What each kind of viewer sees of one person, right now."), form, result);
    if (!id) return;
    let found;
    try {
      found = (await gql(REDACTION, { id: id })).redactionStatus;
    } catch (error) {
      result.replaceChildren(problem(error));
      return;
    }
    if (!found) {
      result.replaceChildren(h("p", {}, "No such subject."));
      return;
    }
    const viewers = found.fields.length ? found.fields[0].outcomes.map((o) => o.viewer.label) : [];
    result.replaceChildren(
      facts([
        ["Subject", "user " + found.subjectId],
        ["Deletion state", found.deletionState],
        ["Analytics consent", found.analyticsConsent ? "granted" : "withdrawn or never given"],
        ["Policy version", found.policyVersion],
      ]),
      h(
        "div",
        { class: "scroll" },
        table(
          ["Field", ...viewers.map((label) => label.split(/[:/]/).map((part, i) => [i ? h("br") : null, part]))],
          found.fields.map((f) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, h("code", {}, f.typeName + "." + f.fieldName)),
              f.outcomes.map((o) =>
                h(
                  "td",
                  { class: "decision " + o.action.toLowerCase(), title: o.viewer.label + ": " + o.reason },
                  o.action,
                  h("small", {}, o.reason)
                )
              )
            )
          ),
          { class: "matrix" }
        )
      )
    );
  }

  // -- requests by due week --------------------------------------------------------------

  const CHART = `query Weeks($first: Int!, $after: String) {
    privacyRequests(first: $first, after: $after) {
      nodes { id status dueAt overdue }
      pageInfo { hasNextPage endCursor }
    } }`;

  function weekStart(value) {
    const day = new Date(value);
    const utc = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate());
    return utc - ((new Date(utc).getUTCDay() + 6) % 7) * DAY; // Monday, UTC
  }

  function chart(nodes) {
    const weeks = new Map();
    for (const node of nodes) {
      const key = weekStart(node.dueAt);
      const bucket = weeks.get(key) || { overdue: 0, open: 0, closed: 0 };
      if (node.overdue) bucket.overdue += 1;
      else if (OPEN.includes(node.status)) bucket.open += 1;
      else bucket.closed += 1;
      weeks.set(key, bucket);
    }
    const keys = [...weeks.keys()].sort((a, b) => a - b);
    const now = weekStart(Date.now());
    const first = Math.min(keys[0], now);
    const last = Math.max(keys[keys.length - 1], now);
    const columns = [];
    for (let week = first; week <= last; week += WEEK) {
      columns.push([week, weeks.get(week) || { overdue: 0, open: 0, closed: 0 }]);
    }
    const top = Math.max(1, ...columns.map(([, b]) => b.overdue + b.open + b.closed));
    const step = Math.max(1, Math.ceil(top / 5));
    const ceiling = step * Math.ceil(top / step);
    const bar = 14;
    const gap = 4;
    const left = 36;
    const plot = 200;
    const width = left + columns.length * (bar + gap) + 10;
    const height = plot + 60;
    const y = (value) => 10 + plot - (value / ceiling) * plot;
    const svg = s("svg", {
      class: "chart",
      width: width,
      height: height,
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      "aria-label": "Privacy requests by due week",
      "data-testid": "due-week-chart",
    });
    for (let tick = 0; tick <= ceiling; tick += step) {
      svg.append(
        s("line", { class: "grid", x1: left, x2: width - 6, y1: y(tick), y2: y(tick) }),
        s("text", { class: "axis", x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, String(tick))
      );
    }
    columns.forEach(([week, bucket], index) => {
      const x = left + index * (bar + gap) + gap / 2;
      let base = 0;
      const total = bucket.overdue + bucket.open + bucket.closed;
      const label = new Date(week).toISOString().slice(0, 10);
      const group = s("g", { class: "week", "data-week": label, "data-total": total });
      group.append(
        s("title", {}, `Week of ${label}: ${bucket.overdue} overdue, ${bucket.open} open, ${bucket.closed} closed`)
      );
      for (const part of ["closed", "open", "overdue"]) {
        if (!bucket[part]) continue;
        group.append(
          s("rect", { class: part, x: x, width: bar, y: y(base + bucket[part]), height: y(base) - y(base + bucket[part]) })
        );
        base += bucket[part];
      }
      if (week === now) {
        group.append(s("line", { class: "now", x1: x + bar / 2, x2: x + bar / 2, y1: 6, y2: 10 + plot }));
      }
      if (index % 4 === 0) {
        group.append(s("text", { class: "axis", x: x, y: plot + 28 }, label.slice(5)));
      }
      if (index % 4 === 0 && (index === 0 || label.slice(5, 7) === "01")) {
        group.append(s("text", { class: "axis", x: x, y: plot + 44 }, label.slice(0, 4)));
      }
      svg.append(group);
    });
    return svg;
  }

  async function chartPage() {
    show(h("h2", {}, "Requests by due week"), h("p", { class: "muted" }, "Loading…"));
    const nodes = [];
    let after = null;
    try {
      for (let page = 0; page < CHART_PAGES; page += 1) {
        const data = (await gql(CHART, { first: PAGE_SIZE, after: after })).privacyRequests;
        nodes.push(...data.nodes);
        after = data.pageInfo.endCursor;
        if (!data.pageInfo.hasNextPage) break;
      }
    } catch (error) {
      show(h("h2", {}, "Requests by due week"), problem(error));
      return;
    }
    const legend = h(
      "p",
      { class: "legend" },
      h("span", { class: "key overdue" }), " overdue ",
      h("span", { class: "key open" }), " open ",
      h("span", { class: "key closed" }), " closed ",
      h("span", { class: "key now" }), " this week"
    );
    show(
      h("h2", {}, "Requests by due week"),
      h(
        "p",
        { class: "muted" },
        nodes.length + " requests, each in the week (Monday, UTC) of its due date." +
          (after && nodes.length >= CHART_PAGES * PAGE_SIZE ? " Only the earliest " + nodes.length + " are drawn." : "")
      ),
      legend,
      nodes.length ? h("div", { class: "scroll" }, chart(nodes)) : h("p", {}, "No requests.")
    );
  }

  // -- security incidents and their deadlines --------------------------------------------

  const INCIDENT_PAGE = 10; // each incident brings its notices and timeline: keep the cost low
  const INCIDENTS = `query Incidents($first: Int!, $after: String) {
    securityIncidents(first: $first, after: $after) {
      nodes { id title description severity status detectedAt awareAt reportedAt reportedBy
        overdue affectedCounts { jurisdiction count }
        authorityNotifications { id jurisdiction stage dueAt rule internalSla sentAt sentBy
          reference overdue late }
        subjectNotifications { jurisdiction count sent dueAt overdue lastSentAt }
        timeline { at kind jurisdiction stage count overdue } }
      pageInfo { hasNextPage endCursor }
    } }`;
  const RECORD = `mutation Record($id: ID!, $reference: String) {
    recordIncidentNotification(id: $id, reference: $reference) {
      incident { id } errors { code message field } } }`;

  function noticeState(notice) {
    if (notice.overdue) return h("span", { class: "badge overdue" }, "OVERDUE");
    if (notice.late) return h("span", { class: "badge soon" }, "MADE LATE");
    if (notice.sentAt) return h("span", { class: "badge done" }, "MADE");
    return h("span", { class: "badge" }, "DUE " + relative(notice.dueAt).toUpperCase());
  }

  function recordForm(notice, incident, where) {
    if (notice.sentAt) {
      return [notice.sentBy ? "by " + notice.sentBy : "", notice.reference ? " · ref. " + notice.reference : ""];
    }
    return h(
      "form",
      {
        class: "inline",
        "data-testid": "record-notice",
        "data-notice": notice.id,
        onsubmit: async (event) => {
          event.preventDefault();
          const reference = event.currentTarget.elements.reference.value.trim();
          try {
            const data = await gql(RECORD, { id: notice.id, reference: reference || null });
            const payload = data.recordIncidentNotification;
            if (payload.errors.length) {
              where.replaceChildren(refusals(payload.errors));
              return;
            }
            say("Notice to " + notice.jurisdiction + " on incident #" + incident.id + " recorded as made.");
            incidentsPage();
          } catch (error) {
            where.replaceChildren(problem(error));
          }
        },
      },
      h("input", { name: "reference", placeholder: "authority's reference", maxlength: 200 }),
      h("button", { type: "submit" }, "Record as made now")
    );
  }

  function incidentCard(incident) {
    const where = h("div");
    const notices = incident.authorityNotifications;
    const told = incident.subjectNotifications;
    return h(
      "article",
      { class: "incident" + (incident.overdue ? " overdue" : ""), "data-incident": incident.id },
      h(
        "h3",
        {},
        "#" + incident.id + " " + incident.title + " ",
        h("span", { class: "badge severity " + incident.severity.toLowerCase() }, incident.severity),
        h("span", { class: "status" }, incident.status),
        incident.overdue ? h("span", { class: "badge overdue" }, "NOTICE OVERDUE") : null
      ),
      h("p", { class: "text" }, incident.description),
      facts([
        ["Detected", date(incident.detectedAt)],
        ["Aware", date(incident.awareAt)],
        ["Reported", incident.reportedAt ? date(incident.reportedAt) + (incident.reportedBy ? " by " + incident.reportedBy : "") : null],
        [
          "Affected",
          incident.affectedCounts.length
            ? incident.affectedCounts.map((a) => h("span", { class: "chip" }, a.jurisdiction + " " + a.count))
            : null,
        ],
      ]),
      h("h4", {}, "Notices to authorities"),
      notices.length
        ? table(
            ["Authority", "Due", "Rule", "State", "Made", ""],
            notices.map((n) =>
              h(
                "tr",
                { class: n.overdue ? "overdue" : null, "data-notice": n.id },
                h("td", {}, n.jurisdiction, n.stage ? h("small", {}, " · " + n.stage) : ""),
                h("td", { class: "due" }, date(n.dueAt), h("br"), h("small", {}, n.sentAt ? "" : relative(n.dueAt))),
                h("td", {}, h("small", {}, n.rule || "", n.internalSla ? " (platform's own deadline)" : "")),
                h("td", {}, noticeState(n)),
                h("td", {}, n.sentAt ? date(n.sentAt) : "—"),
                h("td", {}, recordForm(n, incident, where))
              )
            ),
            { class: "notices" }
          )
        : h("p", { class: "muted" }, "No authority is to be notified."),
      told.length
        ? [
            h("h4", {}, "Affected subjects told"),
            table(
              ["Jurisdiction", "Told", "Due", "Not told, past due", "Last told"],
              told.map((t) =>
                h(
                  "tr",
                  { class: t.overdue ? "overdue" : null },
                  h("td", {}, t.jurisdiction),
                  h("td", { class: "num" }, t.sent + " of " + t.count),
                  h("td", { class: "due" }, date(t.dueAt)),
                  h("td", { class: "num" }, t.overdue),
                  h("td", {}, t.lastSentAt ? date(t.lastSentAt) : "—")
                )
              )
            ),
          ]
        : null,
      where,
      h(
        "details",
        {},
        h("summary", {}, "Timeline (" + incident.timeline.length + ")"),
        h(
          "ol",
          { class: "timeline" },
          incident.timeline.map((e) =>
            h(
              "li",
              { class: e.overdue ? "overdue" : null },
              h("span", { class: "when" }, date(e.at)),
              " ",
              e.kind.replace(/_/g, " "),
              e.jurisdiction ? " · " + e.jurisdiction : "",
              e.stage ? " · " + e.stage : "",
              e.count !== null && e.count !== undefined ? " · " + e.count + " subjects" : "",
              e.overdue ? h("span", { class: "badge overdue" }, "OVERDUE") : null
            )
          )
        )
      )
    );
  }

  async function incidentsPage() {
    const list = h("div", { "data-testid": "incidents" });
    const count = h("p", { class: "count" });
    const more = h("button", { type: "button", hidden: true }, "Load more");
    const holder = h("div");
    const shown = [];
    let after = null;
    async function load() {
      holder.replaceChildren();
      try {
        const page = (await gql(INCIDENTS, { first: INCIDENT_PAGE, after: after })).securityIncidents;
        shown.push(...page.nodes);
        after = page.pageInfo.endCursor;
        more.hidden = !page.pageInfo.hasNextPage;
      } catch (error) {
        holder.replaceChildren(problem(error));
        more.hidden = true;
      }
      list.replaceChildren(...shown.map(incidentCard));
      const overdue = shown.filter((i) => i.overdue).length;
      count.textContent =
        shown.length + " incident" + (shown.length === 1 ? "" : "s") + ", newest first" +
        (overdue ? "; " + overdue + " with a notice overdue" : "");
    }
    more.addEventListener("click", load);
    show(h("h2", {}, "Security incidents"), count, holder, list, more);
    await load();
  }

  // -- the audit chain -------------------------------------------------------------------

  const VERIFY = `{ verifyAuditChain { intact events headId headHash brokenAt reason message } }`;

  async function auditPage() {
    const result = h("div", { "data-testid": "audit-chain" }, h("p", { class: "muted" }, "Walking the chain…"));
    const again = h("button", { type: "button", onclick: () => auditPage() }, "Verify again");
    show(
      h("h2", {}, "Audit chain"),
      h(
        "p",
        { class: "muted" },
        "Every audit event hashes the one before it; the gateway walks the whole chain and " +
          "names the first event that does not hold."
      ),
      result,
      again
    );
    let verdict;
    try {
      verdict = (await gql(VERIFY)).verifyAuditChain;
    } catch (error) {
      result.replaceChildren(problem(error));
      return;
    }
    if (!verdict) {
      result.replaceChildren(h("p", {}, "No verdict."));
      return;
    }
    result.replaceChildren(
      h(
        "div",
        { class: "verdict " + (verdict.intact ? "intact" : "broken") },
        h("strong", {}, verdict.intact ? "Intact" : "Broken at event #" + verdict.brokenAt + " (" + verdict.reason + ")"),
        " — " + verdict.events + " event" + (verdict.events === 1 ? "" : "s") + " checked"
      ),
      facts([
        ["Verdict", verdict.message],
        ["Head event", verdict.headId ? "#" + verdict.headId : "none yet"],
        ["Head hash", h("code", { class: "hash" }, verdict.headHash)],
      ]),
      h(
        "p",
        { class: "hint" },
        "Write the head hash down somewhere else (a ticket, a signed note): an earlier hash " +
          "that no event carries any more means the chain was rewritten."
      )
    );
  }

  // -- signing in, and the pages ---------------------------------------------------------

  function claims(jwt) {
    try {
      const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(window.atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    } catch (error) {
      return null;
    }
  }

  function signedIn() {
    const jwt = token();
    document.getElementById("sign-in").hidden = Boolean(jwt);
    document.getElementById("tabs").hidden = !jwt;
    document.getElementById("session").hidden = !jwt;
    if (!jwt) return false;
    const told = claims(jwt) || {};
    const who = document.getElementById("who");
    who.textContent = (told.sub || "an unreadable token") + " · " + (told.role || "no role");
    who.title = told.exp ? "The token expires at " + date(told.exp * 1000) : "";
    return true;
  }

  const PAGES = {
    queue: () => queuePage(),
    request: (id) => requestPage(id),
    catalog: () => catalogPage(),
    subject: (id) => subjectPage(id),
    chart: () => chartPage(),
    incidents: () => incidentsPage(),
    audit: () => auditPage(),
  };

  function route() {
    if (!signedIn()) {
      show();
      return;
    }
    const [name, arg] = window.location.hash.replace(/^#/, "").split("/");
    const page = PAGES[name] ? name : "queue";
    for (const link of document.querySelectorAll("#tabs a")) {
      link.classList.toggle("current", link.dataset.tab === (page === "request" ? "queue" : page));
    }
    PAGES[page](arg ? decodeURIComponent(arg) : undefined);
  }

  document.getElementById("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = event.currentTarget.elements.token.value.trim().replace(/^Bearer\s+/i, "");
    event.currentTarget.reset();
    window.sessionStorage.setItem(TOKEN_KEY, value);
    say("");
    route();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    window.sessionStorage.removeItem(TOKEN_KEY);
    say("Signed out.");
    route();
  });
  window.addEventListener("hashchange", () => {
    say("");
    route();
  });
  route();
})();
