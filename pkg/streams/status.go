package streams

import (
	"strings"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// StatusName is the name of an enrichment status (EnrichedPing's
// enrichment.status): "matched" (subscription and account found),
// "partial" (subscription only), "unmatched" (no license, or an unknown
// one), "failed" (a lookup failed within the budget; listed by serviceping
// reenrich) or "skipped" (no directory configured). It is the
// enrichment_status the warehouse and the lake store and the status label
// the enricher counts. A value this build does not know is named after its
// enum name, lowercase without the prefix ("unspecified"), or its number.
func StatusName(s servicepingv1.EnrichmentStatus) string {
	switch s {
	case servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED:
		return "matched"
	case servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_PARTIAL:
		return "partial"
	case servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED:
		return "unmatched"
	case servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED:
		return "failed"
	case servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_SKIPPED:
		return "skipped"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "ENRICHMENT_STATUS_"))
}
