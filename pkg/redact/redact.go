// Package redact masks secrets for logs and error messages: the
// credentials in a URL, and the secrets of a configuration logged at start.
// Every serviceping binary masks the same way, with URL and Config.
package redact

import (
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// URL returns raw with its credentials masked: the password of its user
// info, or the user info itself when it has no password (a NATS token or
// an API key stands there), and the values of the query parameters whose
// names say password, token or secret. The empty string stays empty; a
// value that does not parse as a URL is replaced whole, as it may hold a
// password anywhere. A comma-separated list of URLs (NATS_URL of a
// cluster) is masked URL by URL.
func URL(raw string) string {
	if raw == "" {
		return ""
	}
	if parts := strings.Split(raw, ","); len(parts) > 1 && !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(p, "://") }) {
		for i, p := range parts {
			parts[i] = URL(strings.TrimSpace(p))
		}
		return strings.Join(parts, ",")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(Mask)
		}
	}
	if u.RawQuery != "" {
		q, masked := u.Query(), false
		for k := range q {
			if secretName(k) {
				q[k], masked = []string{Mask}, true
			}
		}
		if masked {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

func secretName(name string) bool {
	name = strings.ToLower(name)
	return strings.Contains(name, "password") || strings.Contains(name, "token") || strings.Contains(name, "secret")
}

// Config renders cfg, a configuration struct with github.com/sethvargo/
// go-envconfig `env` tags (or a pointer to one), for the line a service
// logs at start: one attribute per variable, named by the variable in lower
// case (NATS_URL: nats_url), a value holding "://" masked with URL, and a
// field tagged `secret:"true"` masked whole when set. Nested and embedded
// structs add their variables; fields without a variable are left out.
// A Config type's LogValue method returns Config(c).
func Config(cfg any) slog.Value {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return slog.GroupValue()
		}
		v = v.Elem()
	}
	return slog.GroupValue(fields(nil, v)...)
}

func fields(attrs []slog.Attr, v reflect.Value) []slog.Attr {
	if v.Kind() != reflect.Struct {
		return attrs
	}
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		tag, ok := f.Tag.Lookup("env")
		if !ok {
			for fv.Kind() == reflect.Pointer && !fv.IsNil() {
				fv = fv.Elem()
			}
			attrs = fields(attrs, fv)
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name = strings.TrimSpace(name); name == "" || name == "-" || !fv.CanInterface() {
			continue
		}
		attrs = append(attrs, attr(strings.ToLower(name), fv, f.Tag.Get("secret") == "true"))
	}
	return attrs
}

func attr(key string, v reflect.Value, secret bool) slog.Attr {
	switch {
	case secret && v.IsZero():
		return slog.String(key, "")
	case secret:
		return slog.String(key, Mask)
	}
	switch x := v.Interface().(type) {
	case string:
		if strings.Contains(x, "://") {
			x = URL(x)
		}
		return slog.String(key, x)
	case time.Duration:
		return slog.Duration(key, x)
	default:
		return slog.Any(key, x)
	}
}
