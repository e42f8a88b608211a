package ping

// ErrorReport is GitLab's error hash, the inner object of
// POST /usage_ping_errors ({"error": {...}}): what an instance's collector
// sends when a submission finally fails, and what the gateway decodes.
type ErrorReport struct {
	Time     string  `json:"time"`
	UUID     string  `json:"uuid"`
	Hostname string  `json:"hostname"`
	Version  string  `json:"version"`
	Message  string  `json:"message"`
	Elapsed  float64 `json:"elapsed"`
}
