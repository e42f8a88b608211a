package validate

import (
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/serviceping/serviceping/pkg/ping"
)

// MetricTiming is one entry of POST /usage_ping_metadata.
type MetricTiming struct {
	Name        string  `json:"name"`
	TimeElapsed float64 `json:"time_elapsed"`
	// Error as sent: a string is kept as is, any other JSON value as its text.
	Error string `json:"-"`
	// RawError receives "error" whatever its JSON type.
	RawError jsontext.Value `json:"error"`
}

// Metadata is the inner object of POST /usage_ping_metadata.
type Metadata struct {
	UUID    string         `json:"uuid"`
	Metrics []MetricTiming `json:"metrics"`
}

// DecodeErrorReport validates {"error": {...}} and returns the inner report.
func DecodeErrorReport(body []byte, lim Limits) (ping.ErrorReport, error) {
	var wire struct {
		Error *ping.ErrorReport `json:"error"`
	}
	if err := decodeStrict(body, lim, "error", &wire); err != nil {
		return ping.ErrorReport{}, err
	}
	if wire.Error == nil {
		return ping.ErrorReport{}, reject(CodeMissingField, `"error" must be an object`)
	}
	if wire.Error.UUID == "" {
		return ping.ErrorReport{}, reject(CodeMissingField, `"error.uuid" is required`)
	}
	if err := CheckUUID(wire.Error.UUID); err != nil {
		return ping.ErrorReport{}, err
	}
	return *wire.Error, nil
}

// DecodeMetadata validates {"metadata": {"uuid", "metrics": [...]}}.
func DecodeMetadata(body []byte, lim Limits) (Metadata, error) {
	var wire struct {
		Metadata *Metadata `json:"metadata"`
	}
	if err := decodeStrict(body, lim, "metadata", &wire); err != nil {
		return Metadata{}, err
	}
	m := wire.Metadata
	if m == nil {
		return Metadata{}, reject(CodeMissingField, `"metadata" must be an object`)
	}
	if m.UUID == "" {
		return Metadata{}, reject(CodeMissingField, `"metadata.uuid" is required`)
	}
	if err := CheckUUID(m.UUID); err != nil {
		return Metadata{}, err
	}
	for i := range m.Metrics {
		mt := &m.Metrics[i]
		switch k := mt.RawError.Kind(); k {
		case 0, 'n':
		case '"':
			var s string
			if err := json.Unmarshal(mt.RawError, &s); err == nil {
				mt.Error = s
			}
		default:
			mt.Error = string(mt.RawError)
		}
		mt.RawError = nil
	}
	return *m, nil
}

// decodeStrict runs the strict pass (which also requires the root member
// wrapper to be an object when present), then unmarshals into v.
func decodeStrict(body []byte, lim Limits, wrapper string, v any) error {
	err := walkObject(body, lim, func(w *walker, name string) error {
		if name == wrapper {
			if k := w.dec.PeekKind(); k != '{' && k != 'n' && isValueStart(k) {
				return reject(CodeInvalidField, "%q must be an object, got %s", wrapper, kindName(k))
			}
		}
		return w.value()
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		var serr *json.SemanticError
		if errors.As(err, &serr) && serr.JSONPointer != "" {
			want := "a value of another type"
			if serr.GoType != nil {
				switch serr.GoType.Kind().String() {
				case "string":
					want = "a string"
				case "float64":
					want = "a number"
				case "slice":
					want = "an array"
				case "struct", "ptr":
					want = "an object"
				}
			}
			return reject(CodeInvalidField, "%s must be %s", quoteTrunc(string(serr.JSONPointer)), want)
		}
		return reject(CodeInvalidField, "the body does not have the expected shape")
	}
	return nil
}
