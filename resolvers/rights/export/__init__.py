"""Access and portability (Art. 4.1; GDPR Art. 15, 20): the EXPORT request, its signed
download link, and the document generated at download time from one consistent read.

    filing     the request's lifecycle: filed RECEIVED, COMPLETED at the first download
    links      signed links `/exports/<id>?token=...` that expire
    sources    where a subject's rows of each (type, role) are; each category's origin
    categories what each category says: origin, purposes, recipients, what erasure does
    records    how values, links to the subject and a row's references are written
    snapshot   one consistent read, chunked rows, loaders bound to it
    history    the consent ledger and the privacy requests, as documents
    writers    the document as JSON (see export.schema.json) or as an HTML page
    download   `GET /exports/{id}`: who may download, the streamed response

What the document holds is read from the schema (`schema/rights/export.py`), which builds
every object with its type's own projection.
"""
