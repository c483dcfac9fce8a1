"""The redaction report in `extensions.privacy` of every response."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension

from resolvers.context import Context


class PrivacyReportExtension(SchemaExtension):
    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context.context
        if not isinstance(ctx, Context):
            return {}
        scope = ctx.privacy
        return {
            "privacy": scope.report.to_extension(
                purpose=scope.viewer.purpose.value,
                policy_version=scope.policy.version,
                full=scope.full_report,
            )
        }
