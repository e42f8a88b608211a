// Package jsonleaves walks the leaves of a JSON object with encoding/json:
// the oracle the loader's tests check package flatten against,
// independently of it.
package jsonleaves

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Walk decodes payload, a JSON object, with encoding/json (numbers as
// json.Number) and calls leaf with the dotted path of every leaf — each
// value that is not an object (array, number, string, bool, nil) and each
// empty object, the root's path being "" — in no particular order.
func Walk(payload []byte, leaf func(path string, v any)) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		x, ok := v.(map[string]any)
		if !ok || len(x) == 0 {
			leaf(path, v)
		}
		for k, c := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(p, c)
		}
	}
	walk("", root)
	return nil
}
